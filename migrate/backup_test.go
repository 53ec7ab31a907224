package migrate

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

type backupFixture struct {
	dir     string
	did     string
	sigKey  *atcrypto.PrivateKeyK256
	userKey *atcrypto.PrivateKeyK256
	r       *repotest.Repo
	log     []didplc.LogEntry
}

func k256(t *testing.T) *atcrypto.PrivateKeyK256 {
	t.Helper()
	k, err := plc.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func didKey(t *testing.T, k atcrypto.PrivateKey) string {
	t.Helper()
	d, err := plc.DIDKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func plcTS(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// newBackupFixture writes a complete backup of a DID whose genesis op
// names sigKey, with a repo of 30 records and 5 blobs signed by it.
func newBackupFixture(t *testing.T, withPrefs bool) *backupFixture {
	t.Helper()
	f := &backupFixture{dir: t.TempDir(), sigKey: k256(t), userKey: k256(t)}
	pdsKey := k256(t)
	gen := didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        []string{didKey(t, f.userKey), didKey(t, pdsKey)},
		VerificationMethods: map[string]string{"atproto": didKey(t, f.sigKey)},
		AlsoKnownAs:         []string{"at://alice.test"},
		Services:            map[string]didplc.OpService{"atproto_pds": {Type: "AtprotoPersonalDataServer", Endpoint: "https://old.example"}},
	}
	if err := gen.Sign(pdsKey); err != nil {
		t.Fatal(err)
	}
	did, err := gen.DID()
	if err != nil {
		t.Fatal(err)
	}
	f.did = did
	f.log = []didplc.LogEntry{{DID: did, Operation: didplc.OpEnum{Regular: &gen}, CID: gen.CID().String(), CreatedAt: plcTS(time.Now().Add(-time.Hour))}}

	car, r, err := repotest.BuildCAR(30, 5, f.sigKey, did)
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	f.write(t, car, withPrefs, []string{didKey(t, pdsKey)})
	return f
}

func (f *backupFixture) write(t *testing.T, car []byte, withPrefs bool, oldKeys []string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(f.dir, BackupRepoFile), car, 0o600))
	store, err := repo.OpenBlobStore(filepath.Join(f.dir, BackupBlobDir))
	must(err)
	mimes, sizes := map[string]string{}, map[string]int64{}
	for c, data := range f.r.Blobs {
		_, err := store.Write(c, bytes.NewReader(data), int64(len(data)))
		must(err)
		mimes[c], sizes[c] = "image/jpeg", int64(len(data))
	}
	logJSON, err := json.Marshal(f.log)
	must(err)
	must(os.WriteFile(filepath.Join(f.dir, BackupPLCLogFile), logJSON, 0o600))
	names := []string{BackupRepoFile, BackupPLCLogFile}
	if withPrefs {
		must(os.WriteFile(filepath.Join(f.dir, BackupPrefsFile), []byte(`[{"$type":"app.bsky.actor.defs#adultContentPref","enabled":false}]`), 0o600))
		names = append(names, BackupPrefsFile)
	}
	files := map[string]ManifestFile{}
	for _, n := range names {
		size, sum, err := hashFile(filepath.Join(f.dir, n))
		must(err)
		files[n] = ManifestFile{Size: size, SHA256: sum}
	}
	man := &Manifest{DID: f.did, Handle: "alice.test", PDS: "https://old.example",
		Repo:  ManifestRepo{Rev: f.r.Rev, Commit: f.r.CommitCID.String(), Records: 30, Bytes: int64(len(car)), SHA256: files[BackupRepoFile].SHA256},
		Blobs: ManifestBlobs{Count: len(mimes), MimeTypes: mimes, Sizes: sizes},
		Files: files, OldPDSRotationKeys: oldKeys, Tool: "atmigrate/test", Created: time.Now().UTC()}
	must(WriteManifest(f.dir, man))
}

func wantBackupError(t *testing.T, err error, file string) {
	t.Helper()
	var be *BackupError
	if !errors.As(err, &be) {
		t.Fatalf("want a BackupError naming %s, got %v", file, err)
	}
	if be.File != file {
		t.Fatalf("error names %s, want %s: %v", be.File, file, err)
	}
	if !strings.Contains(err.Error(), file) {
		t.Fatalf("message does not name %s: %v", file, err)
	}
}

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := &Manifest{DID: "did:plc:abc", Handle: "a.test", PDS: "https://p.example",
		Repo:  ManifestRepo{Rev: "3abc", Commit: "bafycommit", Records: 3, Bytes: 99, SHA256: "00ff"},
		Blobs: ManifestBlobs{Count: 1, Bytes: 5, MimeTypes: map[string]string{"bafkb": "image/png"}, Sizes: map[string]int64{"bafkb": 5}},
		Files: map[string]ManifestFile{"repo.car": {Size: 99, SHA256: "00ff"}}, OldPDSRotationKeys: []string{"did:key:zQ3s"},
		Tool: "atmigrate/dev", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := WriteManifest(dir, in); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, BackupManifestFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("manifest file: %v %v", fi, err)
	}
	out, err := ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(in, out) {
		t.Fatalf("round trip:\n%+v\n%+v", in, out)
	}
	os.WriteFile(filepath.Join(dir, BackupManifestFile), []byte(`{"version":99,"did":"did:plc:abc","repo":{"commit":"x"}}`), 0o600)
	_, err = ReadManifest(dir)
	wantBackupError(t, err, BackupManifestFile)
	_, err = ReadManifest(t.TempDir())
	wantBackupError(t, err, BackupManifestFile)
}

func TestVerifyBackupOK(t *testing.T) {
	f := newBackupFixture(t, true)
	rep, err := VerifyBackup(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Summary.Records != 30 || len(rep.Summary.Blobs) != 5 || len(rep.Lacks) != 0 {
		t.Fatalf("report: %+v lacks %v", rep.Summary, rep.Lacks)
	}
	if rep.Key.DIDKey() != didKey(t, f.sigKey) {
		t.Fatalf("key %s", rep.Key.DIDKey())
	}
}

func TestVerifyBackupLacksPrefs(t *testing.T) {
	f := newBackupFixture(t, false)
	rep, err := VerifyBackup(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Lacks) != 1 || !strings.Contains(rep.Lacks[0], BackupPrefsFile) {
		t.Fatalf("lacks %v", rep.Lacks)
	}
	src := &backupSource{dir: f.dir, man: rep.Manifest}
	p, err := src.Preferences(context.Background())
	if err != nil || string(p) != "[]" {
		t.Fatalf("preferences of a backup without them: %s %v", p, err)
	}
}

// A key rotated after the repo was written does not invalidate it: the
// repo verifies against the DID's earlier key, which the report names.
func TestVerifyBackupKeyOfItsTime(t *testing.T) {
	f := newBackupFixture(t, true)
	st, err := plc.StateFromLog(f.did, f.log)
	if err != nil {
		t.Fatal(err)
	}
	op, err := plc.BuildSigningKeyUpdate(st, didKey(t, k256(t)))
	if err != nil {
		t.Fatal(err)
	}
	if err := plc.Sign(op, f.userKey); err != nil {
		t.Fatal(err)
	}
	f.log = append(f.log, didplc.LogEntry{DID: f.did, Operation: didplc.OpEnum{Regular: op}, CID: plc.OpCID(op), CreatedAt: plcTS(time.Now().Add(time.Hour))})
	f.write(t, f.r.CAR(), true, nil)
	rep, err := VerifyBackup(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Key.DIDKey() != didKey(t, f.sigKey) {
		t.Fatalf("verified with %s, want the key of the backup's time", rep.Key.DIDKey())
	}
	if k, ok := rep.Keys.Earlier(rep.Key.DIDKey()); !ok || len(rep.Keys) != 2 {
		t.Fatalf("keys %+v: the signer %+v is not an earlier one", rep.Keys, k)
	}
	if len(rep.Lacks) != 1 || !strings.Contains(rep.Lacks[0], "rotation key") {
		t.Fatalf("lacks %v", rep.Lacks)
	}
}

func TestVerifyBackupCorrupted(t *testing.T) {
	cases := []struct {
		name    string
		corrupt func(t *testing.T, f *backupFixture) string
	}{
		{"flipped byte in a blob", func(t *testing.T, f *backupFixture) string {
			for c := range f.r.Blobs {
				p := filepath.Join(f.dir, BackupBlobDir, c)
				b, _ := os.ReadFile(p)
				b[0] ^= 0x80
				os.WriteFile(p, b, 0o600)
				return BackupBlobDir + "/" + c
			}
			return ""
		}},
		{"blob missing", func(t *testing.T, f *backupFixture) string {
			for c := range f.r.Blobs {
				os.Remove(filepath.Join(f.dir, BackupBlobDir, c))
				return BackupBlobDir + "/" + c
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
			return BackupRepoFile
		}},
		{"repo signed by another key", func(t *testing.T, f *backupFixture) string {
			car, r, err := repotest.BuildCAR(5, 0, k256(t), f.did)
			if err != nil {
				t.Fatal(err)
			}
			f.r = r
			f.write(t, car, true, nil)
			return BackupRepoFile
		}},
		{"repo.car changed after the manifest", func(t *testing.T, f *backupFixture) string {
			p := filepath.Join(f.dir, BackupRepoFile)
			b, _ := os.ReadFile(p)
			b[len(b)-1] ^= 1
			os.WriteFile(p, b, 0o600)
			return BackupRepoFile
		}},
		{"manifest hash edited", func(t *testing.T, f *backupFixture) string {
			m, _ := ReadManifest(f.dir)
			e := m.Files[BackupPLCLogFile]
			e.SHA256 = strings.Repeat("ab", 32)
			m.Files[BackupPLCLogFile] = e
			WriteManifest(f.dir, m)
			return BackupPLCLogFile
		}},
		{"manifest commit edited", func(t *testing.T, f *backupFixture) string {
			m, _ := ReadManifest(f.dir)
			m.Repo.Commit = "bafyreiaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			WriteManifest(f.dir, m)
			return BackupRepoFile
		}},
		{"plc log of another DID", func(t *testing.T, f *backupFixture) string {
			m, _ := ReadManifest(f.dir)
			m.DID = "did:plc:aaaaaaaaaaaaaaaaaaaaaaaa"
			WriteManifest(f.dir, m)
			return BackupPLCLogFile
		}},
		{"manifest missing", func(t *testing.T, f *backupFixture) string {
			os.Remove(filepath.Join(f.dir, BackupManifestFile))
			return BackupManifestFile
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newBackupFixture(t, true)
			file := c.corrupt(t, f)
			_, err := VerifyBackup(context.Background(), f.dir)
			wantBackupError(t, err, file)
		})
	}
}

func TestBackupSourceExportRepo(t *testing.T) {
	f := newBackupFixture(t, true)
	rep, err := VerifyBackup(context.Background(), f.dir)
	if err != nil {
		t.Fatal(err)
	}
	src := &backupSource{dir: f.dir, man: rep.Manifest, key: rep.Key}
	out := filepath.Join(t.TempDir(), "repo.car")
	var tee bytes.Buffer
	var counted int64
	n, err := src.ExportRepo(context.Background(), "", out, &tee, func(k int64) { counted += k })
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := os.ReadFile(filepath.Join(f.dir, BackupRepoFile))
	got, _ := os.ReadFile(out)
	if n != int64(len(orig)) || counted != n || !bytes.Equal(got, orig) || !bytes.Equal(tee.Bytes(), orig) {
		t.Fatalf("copied %d (counted %d) of %d bytes", n, counted, len(orig))
	}
	if _, err := src.ExportRepo(context.Background(), "3abc", out, nil, nil); err == nil {
		t.Fatal("a diff export from a backup should fail")
	}
	cid, rev, _ := src.LatestCommit(context.Background())
	if cid != rep.Manifest.Repo.Commit || rev != rep.Manifest.Repo.Rev {
		t.Fatalf("latest commit %s %s", cid, rev)
	}
}
