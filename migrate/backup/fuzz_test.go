package backup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/fuzzcheck"
)

// FuzzReadManifest feeds a backup's manifest.json, whatever its bytes, to
// ReadManifest and to Verify of an otherwise sound backup. What
// ReadManifest accepts writes and reads back the same; Verify fails only
// with an *Error naming a file, and never accepts a manifest that lists a
// path outside the backup directory.
func FuzzReadManifest(f *testing.F) {
	fx := newBackupFixture(f, true)
	real, err := os.ReadFile(filepath.Join(fx.dir, ManifestFile))
	if err != nil {
		f.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"real":          real,
		"truncated":     real[:len(real)/2],
		"escaping-path": bytes.Replace(real, []byte(`"`+PrefsFile+`"`), []byte(`"../../etc/passwd"`), 1),
		"newer":         bytes.Replace(real, []byte(`"version": 1`), []byte(`"version": 99`), 1),
		"no-did":        []byte(`{"version":1,"repo":{"commit":"bafy"}}`),
		"deep-nesting":  []byte(`{"version":1,"tool":` + strings.Repeat("[", 50000) + `}`),
		"null":          []byte(`null`),
		"empty":         {},
	} {
		fuzzcheck.Seed(f, name, data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(filepath.Join(fx.dir, ManifestFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		fuzzcheck.Alloc(t, len(data), func() {
			rep, err := Verify(context.Background(), fx.dir)
			var be *Error
			if err != nil && !errors.As(err, &be) {
				t.Fatalf("Verify failed without naming a file: %v", err)
			}
			if err == nil {
				for name := range rep.Manifest.Files {
					if name != filepath.Base(name) {
						t.Fatalf("accepted a manifest listing %q", name)
					}
				}
			}
			m, err := ReadManifest(fx.dir)
			if err != nil {
				return
			}
			fuzzcheck.RoundTrip(t, "manifest", m, WriteManifest, ReadManifest)
		})
	})
}

// FuzzBackupPLCLog feeds a backup's plc-log.json, whatever its bytes, to
// Verify, with the manifest's checksum made to match it (the file is
// what it claims to be, but what does it say?). A backup is accepted only
// when the log verifies and names the key that signed the repo.
func FuzzBackupPLCLog(f *testing.F) {
	fx := newBackupFixture(f, true)
	real, err := os.ReadFile(filepath.Join(fx.dir, PLCLogFile))
	if err != nil {
		f.Fatal(err)
	}
	man, err := ReadManifest(fx.dir)
	if err != nil {
		f.Fatal(err)
	}
	for name, data := range map[string][]byte{
		"real":         real,
		"truncated":    real[:len(real)/2],
		"other-did":    bytes.ReplaceAll(real, []byte(fx.did), []byte("did:plc:zzzzzzzzzzzzzzzzzzzzzzzz")),
		"empty-log":    []byte(`[]`),
		"deep-nesting": []byte(strings.Repeat("[", 50000)),
		"null":         []byte(`null`),
	} {
		fuzzcheck.Seed(f, name, data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sum := sha256.Sum256(data)
		man.Files[PLCLogFile] = FileSum{Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
		if err := WriteManifest(fx.dir, man); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(fx.dir, PLCLogFile), data, 0o600); err != nil {
			t.Fatal(err)
		}
		fuzzcheck.Alloc(t, len(data), func() {
			rep, err := Verify(context.Background(), fx.dir)
			var be *Error
			switch {
			case err != nil && !errors.As(err, &be):
				t.Fatalf("Verify failed without naming a file: %v", err)
			case err == nil && (rep.Key == nil || len(rep.Keys) == 0):
				t.Fatal("accepted a backup whose log does not name the repo's signing key")
			}
		})
	})
}
