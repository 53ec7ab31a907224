package backup

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

func TestVerifyOK(t *testing.T) {
	f := newBackupFixture(t, true)
	rep, err := Verify(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Records != 30 || len(rep.Summary.Blobs) != 5 || len(rep.Lacks) != 0 {
		t.Fatalf("report: %+v lacks %v", rep.Summary, rep.Lacks)
	}
	if rep.Key.DIDKey() != fakenet.DIDKey(t, f.sigKey) {
		t.Fatalf("key %s", rep.Key.DIDKey())
	}
}

func TestVerifyLacksPrefs(t *testing.T) {
	f := newBackupFixture(t, false)
	rep, err := Verify(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lacks) != 1 || !strings.Contains(rep.Lacks[0], PrefsFile) {
		t.Fatalf("lacks %v", rep.Lacks)
	}
}

// A key rotated after the repo was written does not invalidate it: the
// repo verifies against the DID's earlier key, which the report names.
func TestVerifyKeyOfItsTime(t *testing.T) {
	f := newBackupFixture(t, true)
	st, err := plc.StateFromLog(f.did, f.log)
	if err != nil {
		t.Fatal(err)
	}
	op, err := plc.BuildSigningKeyUpdate(st, fakenet.DIDKey(t, fakenet.Key(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := plc.Sign(op, f.userKey); err != nil {
		t.Fatal(err)
	}
	f.log = append(f.log, didplc.LogEntry{DID: f.did, Operation: didplc.OpEnum{Regular: op}, CID: plc.OpCID(op), CreatedAt: plcTS(time.Now().Add(time.Hour))})
	f.write(t, f.r.CAR(), true, nil)
	rep, err := Verify(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Key.DIDKey() != fakenet.DIDKey(t, f.sigKey) {
		t.Fatalf("verified with %s, want the key of the backup's time", rep.Key.DIDKey())
	}
	if k, ok := rep.Keys.Earlier(rep.Key.DIDKey()); !ok || len(rep.Keys) != 2 {
		t.Fatalf("keys %+v: the signer %+v is not an earlier one", rep.Keys, k)
	}
	if len(rep.Lacks) != 1 || !strings.Contains(rep.Lacks[0], "rotation key") {
		t.Fatalf("lacks %v", rep.Lacks)
	}
}

func TestVerifyCorrupted(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, f *backupFixture) string
	}{
		{"flipped byte in a blob", func(t *testing.T, f *backupFixture) string {
			for c := range f.r.Blobs {
				p := filepath.Join(f.dir, BlobDir, c)
				b, _ := os.ReadFile(p)
				b[0] ^= 0x80
				os.WriteFile(p, b, 0o600)
				return BlobDir + "/" + c
			}
			return ""
		}},
		{"blob missing", func(t *testing.T, f *backupFixture) string {
			for c := range f.r.Blobs {
				os.Remove(filepath.Join(f.dir, BlobDir, c))
				return BlobDir + "/" + c
			}
			return ""
		}},
		{"record block removed, manifest updated", func(t *testing.T, f *backupFixture) string {
			dropped := false
			var buf bytes.Buffer
			f.r.WriteCAR(&buf, func(b repotest.Block) bool {
				if b.Kind == repotest.KindRecord && !dropped {
					dropped = true
					return false
				}
				return true
			})
			f.write(t, buf.Bytes(), true, nil)
			return RepoFile
		}},
		{"repo signed by another key", func(t *testing.T, f *backupFixture) string {
			car, r, err := repotest.BuildCAR(5, 0, fakenet.Key(t), f.did)
			if err != nil {
				t.Fatal(err)
			}
			f.r = r
			f.write(t, car, true, nil)
			return RepoFile
		}},
		{"repo.car changed after the manifest", func(t *testing.T, f *backupFixture) string {
			p := filepath.Join(f.dir, RepoFile)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o600)
			return RepoFile
		}},
		{"manifest hash edited", func(t *testing.T, f *backupFixture) string {
			m, _ := ReadManifest(f.dir)
			e := m.Files[PLCLogFile]
			e.SHA256 = strings.Repeat("ab", 32)
			m.Files[PLCLogFile] = e
			WriteManifest(f.dir, m)
			return PLCLogFile
		}},
		{"manifest commit edited", func(t *testing.T, f *backupFixture) string {
			m, _ := ReadManifest(f.dir)
			m.Repo.Commit = "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			WriteManifest(f.dir, m)
			return RepoFile
		}},
		{"plc log of another DID", func(t *testing.T, f *backupFixture) string {
			m, _ := ReadManifest(f.dir)
			m.DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
			WriteManifest(f.dir, m)
			return PLCLogFile
		}},
		{"manifest missing", func(t *testing.T, f *backupFixture) string {
			os.Remove(filepath.Join(f.dir, ManifestFile))
			return ManifestFile
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newBackupFixture(t, true)
			file := c.corrupt(t, f)
			_, err := Verify(context.Background(), f.dir)
			wantError(t, err, file)
		})
	}
}

// A backup's JSON files are read whole, so each has a limit: a damaged or
// hostile backup is refused with the size, not read into memory. Without
// the limits, this preferences file verified (its size and hash match the
// manifest) and this manifest, a sparse 300 MB file, was read whole.
func TestVerifyRefusesOversizedFiles(t *testing.T) {
	t.Run("preferences", func(t *testing.T) {
		f := newBackupFixture(t, true)
		p := filepath.Join(f.dir, PrefsFile)
		if err := os.WriteFile(p, []byte("["+strings.Repeat(" ", 8_000_000)+"]"), 0o600); err != nil {
			t.Fatal(err)
		}
		m, err := ReadManifest(f.dir)
		if err != nil {
			t.Fatal(err)
		}
		size, sum, err := hashFile(p)
		if err != nil {
			t.Fatal(err)
		}
		m.Files[PrefsFile] = FileSum{Size: size, SHA256: sum}
		if err := WriteManifest(f.dir, m); err != nil {
			t.Fatal(err)
		}
		_, err = Verify(context.Background(), f.dir)
		wantError(t, err, PrefsFile)
		if !strings.Contains(err.Error(), "more than the 8000000 a backup holds there") {
			t.Errorf("the error does not give the limit: %v", err)
		}
	})
	t.Run("manifest", func(t *testing.T) {
		f := newBackupFixture(t, true)
		if err := os.Truncate(filepath.Join(f.dir, ManifestFile), 300_000_000); err != nil {
			t.Fatal(err)
		}
		_, err := Verify(context.Background(), f.dir)
		wantError(t, err, ManifestFile)
		if !strings.Contains(err.Error(), "300000000 bytes, over the limit of 256000000") {
			t.Errorf("the error does not give the size and the limit: %v", err)
		}
	})
}

// A restore warns when the DID's log no longer holds what the backup saw:
// a log that only grew since is fine, one that lost an entry is not.
func TestReportInLog(t *testing.T) {
	f := newBackupFixture(t, true)
	rep, err := Verify(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := plc.StateFromLog(f.did, f.log)
	if err != nil {
		t.Fatal(err)
	}
	op, err := plc.BuildSigningKeyUpdate(st, fakenet.DIDKey(t, fakenet.Key(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := plc.Sign(op, f.userKey); err != nil {
		t.Fatal(err)
	}
	grown := append(slices.Clone(f.log), didplc.LogEntry{DID: f.did, Operation: didplc.OpEnum{Regular: op}, CID: plc.OpCID(op), CreatedAt: plcTS(time.Now())})
	now, err := plc.StateFromLog(f.did, grown)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.InLog(now) {
		t.Error("a log that only grew since the backup does not hold it")
	}
	if rep.InLog(&plc.State{}) {
		t.Error("an empty log holds the backup's")
	}
}

func TestReportAgo(t *testing.T) {
	taken := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	rep := &Report{Manifest: &Manifest{Created: taken}}
	for d, want := range map[time.Duration]string{
		30 * time.Second: "just now",
		90 * time.Minute: "90 minutes ago",
		30 * time.Hour:   "30 hours ago",
		100 * time.Hour:  "4 days ago",
	} {
		if got := rep.Ago(taken.Add(d)); got != want {
			t.Errorf("%s after: %q, want %q", d, got, want)
		}
	}
}
