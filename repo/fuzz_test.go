package repo

import (
	"bytes"
	"context"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// FuzzVerifyCAR feeds VerifyCAR arbitrary bytes: it must return a summary
// or an error, never panic, whatever a server sends as a repo, and
// allocate within fuzzcheck's budget. The seeds
// are a real signed repo, its truncations and a flipped byte.
func FuzzVerifyCAR(f *testing.F) {
	r, key := buildRepo(f, 8, 2)
	car := r.CAR()
	f.Add(car)
	f.Add(car[:len(car)/2])
	flipped := bytes.Clone(car)
	flipped[len(flipped)/3] ^= 0xff
	f.Add(flipped)
	f.Add([]byte{})
	f.Add([]byte{0x0a, 0xa2, 0x65, 0x72, 0x6f, 0x6f, 0x74, 0x73})
	opts := VerifyOptions{DID: testDID, Keys: pubKeys(f, key)}
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzcheck.Alloc(t, len(data), func() {
			sum, err := VerifyCAR(context.Background(), bytes.NewReader(data), opts)
			if err == nil && sum == nil {
				t.Fatal("no summary and no error")
			}
		})
	})
}
