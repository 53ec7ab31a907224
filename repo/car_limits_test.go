package repo

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// TestCARLengthsCheckedBeforeAllocation: a header or a block whose length
// prefix claims more than its limit is refused before any buffer of that
// size is made, with a *VerifyError.
func TestCARLengthsCheckedBeforeAllocation(t *testing.T) {
	r, _ := buildRepo(t, 4, 0)
	car := r.CAR()
	hdrLen, n := binary.Uvarint(car)
	header, body := car[:n+int(hdrLen)], car[n+int(hdrLen):]
	for _, tc := range []struct {
		name string
		car  []byte
	}{
		{"header claiming 32 MiB (go-car's default limit)", append(binary.AppendUvarint(nil, 32<<20), body...)},
		{"header claiming 4 GiB", binary.AppendUvarint(nil, 4<<30)},
		{"block claiming 4 GiB", append(bytes.Clone(header), binary.AppendUvarint(nil, 4<<30)...)},
		{"block claiming one byte over the limit", append(bytes.Clone(header), binary.AppendUvarint(nil, maxBlockSize+64)...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			// Well under any claimed size: nothing of that size was made.
			fuzzcheck.AllocAtMost(t, 4<<20, func() {
				_, err = VerifyCAR(context.Background(), bytes.NewReader(tc.car), VerifyOptions{})
			})
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("got %v, want a *VerifyError", err)
			}
		})
	}
}
