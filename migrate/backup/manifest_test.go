package backup

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestManifestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := &Manifest{DID: "did:plc:abc", Handle: "a.test", PDS: "https://p.example",
		Repo:  ManifestRepo{Rev: "3abc", Commit: "bafycommit", Records: 3, Bytes: 99, SHA256: "00ff"},
		Blobs: ManifestBlobs{Count: 1, Bytes: 5, MimeTypes: map[string]string{"bafkb": "image/png"}, Sizes: map[string]int64{"bafkb": 5}},
		Files: map[string]FileSum{"repo.car": {Size: 99, SHA256: "00ff"}}, OldPDSRotationKeys: []string{"did:key:zQ3s"},
		Tool: "atmigrate/dev", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := WriteManifest(dir, in); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dir, ManifestFile))
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
	os.WriteFile(filepath.Join(dir, ManifestFile), []byte(`{"version":99,"did":"did:plc:abc","repo":{"commit":"x"}}`), 0o600)
	_, err = ReadManifest(dir)
	wantError(t, err, ManifestFile)
	_, err = ReadManifest(t.TempDir())
	wantError(t, err, ManifestFile)
}
