package fuzzcheck

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// WriteEnv names the environment variable that makes Seed write its seeds
// under testdata/fuzz/<Target>/ as well: `ATMIGRATE_WRITE_CORPUS=1 go test
// -run '^$' -fuzz ... -fuzztime 1x` (or any run of the seeds) refreshes the
// committed corpus from the inputs the targets compute.
const WriteEnv = "ATMIGRATE_WRITE_CORPUS"

// Seed adds args as a seed of f and, when WriteEnv is set, also writes them
// as testdata/fuzz/<f.Name()>/<name> in the `go test fuzz v1` format, so
// that the corpus committed with the package holds the same inputs. args
// are []byte or string values, in the order the fuzz function takes them.
func Seed(f *testing.F, name string, args ...any) {
	f.Helper()
	f.Add(args...)
	if os.Getenv(WriteEnv) == "" {
		return
	}
	dir := filepath.Join("testdata", "fuzz", f.Name())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), corpusFile(f, args), 0o644); err != nil {
		f.Fatal(err)
	}
}

// corpusFile encodes args as the go command reads them back.
func corpusFile(f *testing.F, args []any) []byte {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, a := range args {
		switch v := a.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", v)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", v)
		default:
			f.Fatalf("fuzzcheck: seed of type %T", a)
		}
	}
	return []byte(b.String())
}

// Name is a seed name derived from its bytes, for seeds computed in a loop.
func Name(prefix string, data []byte) string {
	return fmt.Sprintf("%s-%x", prefix, sha256.Sum256(data))[:len(prefix)+9]
}
