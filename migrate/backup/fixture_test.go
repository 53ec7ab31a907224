package backup

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/internal/fakenet"
	"github.com/atmigrate/atmigrate/repo"
	"github.com/atmigrate/atmigrate/repo/repotest"
)

// backupFixture is a backup directory written directly (no PDS): the
// tests of Verify and Source damage it in one way each.
type backupFixture struct {
	dir     string
	did     string
	sigKey  *atcrypto.PrivateKeyK256
	userKey *atcrypto.PrivateKeyK256
	r       *repotest.Repo
	log     []didplc.LogEntry
}

// plcTS is t as the PLC directory writes createdAt.
func plcTS(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// newBackupFixture writes a complete backup of a DID whose genesis op
// names sigKey, with a repo of 30 records and 5 blobs signed by it.
func newBackupFixture(t testing.TB, withPrefs bool) *backupFixture {
	t.Helper()
	f := &backupFixture{dir: t.TempDir(), sigKey: fakenet.Key(t), userKey: fakenet.Key(t)}
	pdsKey := fakenet.Key(t)
	gen := didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        []string{fakenet.DIDKey(t, f.userKey), fakenet.DIDKey(t, pdsKey)},
		VerificationMethods: map[string]string{"atproto": fakenet.DIDKey(t, f.sigKey)},
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
	f.write(t, car, withPrefs, []string{fakenet.DIDKey(t, pdsKey)})
	return f
}

func (f *backupFixture) write(t testing.TB, car []byte, withPrefs bool, oldKeys []string) {
	t.Helper()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(filepath.Join(f.dir, RepoFile), car, 0o600))
	store, err := repo.OpenBlobStore(filepath.Join(f.dir, BlobDir))
	must(err)
	mimes, sizes := map[string]string{}, map[string]int64{}
	for c, data := range f.r.Blobs {
		_, err := store.Write(c, bytes.NewReader(data), int64(len(data)))
		must(err)
		mimes[c], sizes[c] = "image/jpeg", int64(len(data))
	}
	logJSON, err := json.Marshal(f.log)
	must(err)
	must(os.WriteFile(filepath.Join(f.dir, PLCLogFile), logJSON, 0o600))
	names := []string{RepoFile, PLCLogFile}
	if withPrefs {
		must(os.WriteFile(filepath.Join(f.dir, PrefsFile), []byte(`[{"$type":"app.bsky.actor.defs#adultContentPref","enabled":false}]`), 0o600))
		names = append(names, PrefsFile)
	}
	files := map[string]FileSum{}
	for _, n := range names {
		size, sum, err := hashFile(filepath.Join(f.dir, n))
		must(err)
		files[n] = FileSum{Size: size, SHA256: sum}
	}
	man := &Manifest{DID: f.did, Handle: "alice.test", PDS: "https://old.example",
		Repo:  ManifestRepo{Rev: f.r.Rev, Commit: f.r.CommitCID.String(), Records: 30, Bytes: int64(len(car)), SHA256: files[RepoFile].SHA256},
		Blobs: ManifestBlobs{Count: len(mimes), MimeTypes: mimes, Sizes: sizes},
		Files: files, OldPDSRotationKeys: oldKeys, Tool: "atmigrate/test", Created: time.Now().UTC()}
	must(WriteManifest(f.dir, man))
}

// wantError asserts a verification failure naming file.
func wantError(t *testing.T, err error, file string) {
	t.Helper()
	var be *Error
	if !errors.As(err, &be) {
		t.Fatalf("want a Error naming %s, got %v", file, err)
	}
	if be.File != file {
		t.Fatalf("error names %s, want %s: %v", be.File, file, err)
	}
	if !strings.Contains(err.Error(), file) {
		t.Fatalf("message does not name %s: %v", file, err)
	}
}
