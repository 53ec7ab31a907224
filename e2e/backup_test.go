package e2e

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/migrate/backup"
	"github.com/atmigrate/atmigrate/plc"
	"github.com/atmigrate/atmigrate/repo"
)

// TestBackupRestore: accounts with a user rotation key are exported from A
// (twice: the second run fetches nothing), A is killed, and then:
//   - three corrupted copies of a backup are refused with exit 2, naming
//     the broken file, with nothing written to B or the PLC;
//   - a restore killed at five points and re-run finishes with exactly two
//     PLC operations;
//   - a plain restore gives B the same records, blobs and preferences, a
//     DID document pointing at B with rotation keys [user, B].
func TestBackupRestore(t *testing.T) {
	net := newNet(t, localnet.Options{})
	keyDir := t.TempDir()
	userKey, err := plc.GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(keyDir, "rotation.key")
	if err := plc.WriteKeyFile(keyFile, userKey); err != nil {
		t.Fatal(err)
	}
	userDID, _ := plc.DIDKey(userKey)

	main := seed(t, net.A, localnet.SeedSpec{Handle: uniq("bk"), Posts: 200, Blobs: 20,
		BlobMinBytes: 2_000, BlobMaxBytes: 20_000, Profile: true, Preferences: true, RecoveryKey: userDID})
	crashy := seed(t, net.A, localnet.SeedSpec{Handle: uniq("bkc"), Posts: 40, Blobs: 6,
		BlobMinBytes: 1_000, BlobMaxBytes: 5_000, Preferences: true, RecoveryKey: userDID})

	exportEnv := func(a *localnet.Account) map[string]string {
		return map[string]string{"ATMIGRATE_OLD_PASSWORD": a.Password, "ATMIGRATE_PLC_URL": net.PLCURL}
	}
	export := func(a *localnet.Account, dir string) run {
		t.Helper()
		r := atmigrate(t, exportEnv(a), "export", "--account", a.DID, "--old-pds", net.A.URL, "--out", dir)
		if r.code != 0 {
			t.Fatalf("export %s: %s", a.Handle, r)
		}
		return r
	}
	fetched := regexp.MustCompile(`(\d+) fetched`)

	mainDir := filepath.Join(t.TempDir(), "backup-main")
	r := export(main, mainDir)
	t.Logf("export:\n%s", r.stderr)
	if m := fetched.FindStringSubmatch(r.stderr); m == nil || m[1] != "21" {
		t.Errorf("first export: want 21 blobs fetched, got %v", m)
	}
	mustContain(t, r, "downloaded)")
	first, err := backup.ReadManifest(mainDir)
	if err != nil {
		t.Fatal(err)
	}
	r = export(main, mainDir)
	t.Logf("second export:\n%s", r.stderr)
	if m := fetched.FindStringSubmatch(r.stderr); m == nil || m[1] != "0" {
		t.Errorf("second export: want 0 blobs fetched, got %v", m)
	}
	mustContain(t, r, "unchanged, not downloaded")
	// A write makes the next export download the repo again.
	if _, _, err := main.Post(ctxT(t), "written after the second backup"); err != nil {
		t.Fatal(err)
	}
	r = export(main, mainDir)
	if strings.Contains(r.stderr, "unchanged") {
		t.Errorf("third export, after a write, kept the old repo:\n%s", r.stderr)
	}
	man, err := backup.ReadManifest(mainDir)
	if err != nil {
		t.Fatal(err)
	}
	if man.DID != main.DID || man.Blobs.Count != 21 || man.Repo.Records != first.Repo.Records+1 || man.Repo.Rev == first.Repo.Rev || len(man.Files) != 3 || len(man.OldPDSRotationKeys) == 0 {
		t.Errorf("manifest after a write: %+v (first %+v)", man, first.Repo)
	}
	// The second account is deactivated on A first: the owner's session
	// still reads it. Its first export is killed just before the manifest.
	ca := login(t, net.A.URL, crashy.DID, crashy.Password)
	if err := ca.DeactivateAccount(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	crashDir := filepath.Join(t.TempDir(), "backup-crashy")
	env := exportEnv(crashy)
	env["ATMIGRATE_TEST_CRASH_AT"] = "export-before-manifest"
	r = atmigrate(t, env, "export", "--account", crashy.DID, "--old-pds", net.A.URL, "--out", crashDir)
	if r.code != -1 {
		t.Fatalf("export with a crash point: want the process killed\n%s", r)
	}
	if _, err := backup.ReadManifest(crashDir); err == nil {
		t.Fatal("a killed export left a manifest")
	}
	r = export(crashy, crashDir)
	if m := fetched.FindStringSubmatch(r.stderr); m == nil || m[1] != "0" {
		t.Errorf("export after a killed one: want 0 blobs fetched, got %v\n%s", m, r.stderr)
	}
	mustContain(t, r, "account deactivated")

	before := takeSnapshot(t, net.A.URL, main.DID, main.Password)
	beforeCrashy := takeSnapshot(t, net.A.URL, crashy.DID, crashy.Password)
	pc := plc.NewClient(net.PLCURL, nil)
	logLen := func(did string) int {
		t.Helper()
		log, err := pc.AuditLog(ctxT(t), did)
		if err != nil {
			t.Fatal(err)
		}
		return len(log)
	}
	mainOps, crashyOps := logLen(main.DID), logLen(crashy.DID)

	if err := net.A.Kill(); err != nil {
		t.Fatal(err)
	}

	const newPassword = "restored-password-1"
	restoreEnv := map[string]string{
		"ATMIGRATE_NEW_PDS":      net.B.URL,
		"ATMIGRATE_PLC_URL":      net.PLCURL,
		"ATMIGRATE_NEW_PASSWORD": newPassword,
	}
	restore := func(dir, state string, extra map[string]string) run {
		t.Helper()
		env := map[string]string{}
		for k, v := range restoreEnv {
			env[k] = v
		}
		for k, v := range extra {
			env[k] = v
		}
		return atmigrate(t, env, "migrate", "--from-backup", dir, "--rotation-key", keyFile, "--state-dir", state, "--yes")
	}

	t.Run("corrupted backups are refused", func(t *testing.T) {
		cases := []struct {
			name    string
			corrupt func(t *testing.T, dir string) string // returns the file the error must name
		}{
			{"flipped byte in a blob", func(t *testing.T, dir string) string {
				ents, err := os.ReadDir(filepath.Join(dir, "blobs"))
				if err != nil || len(ents) == 0 {
					t.Fatalf("blobs: %v", err)
				}
				p := filepath.Join(dir, "blobs", ents[len(ents)/2].Name())
				b, _ := os.ReadFile(p)
				b[len(b)/2] ^= 0x01
				os.WriteFile(p, b, 0o600)
				return "blobs/" + ents[len(ents)/2].Name()
			}},
			{"record block removed from repo.car", func(t *testing.T, dir string) string {
				removeRecordBlock(t, filepath.Join(dir, "repo.car"))
				// Make the manifest agree, so the repo check itself must catch it.
				rewriteManifest(t, dir, func(m *backup.Manifest) {
					size, sum := fileSHA(t, filepath.Join(dir, "repo.car"))
					m.Files["repo.car"] = backup.FileSum{Size: size, SHA256: sum}
				})
				return "repo.car"
			}},
			{"manifest hash does not match", func(t *testing.T, dir string) string {
				rewriteManifest(t, dir, func(m *backup.Manifest) {
					f := m.Files["preferences.json"]
					f.SHA256 = strings.Repeat("0", 64)
					m.Files["preferences.json"] = f
				})
				return "preferences.json"
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "copy")
				copyDir(t, crashDir, dir)
				file := c.corrupt(t, dir)
				r := restore(dir, t.TempDir(), nil)
				if r.code != 2 {
					t.Fatalf("want exit 2\n%s", r)
				}
				mustContain(t, r, file, "atmigrate: error:", "atmigrate: hint:")
				t.Logf("%s: %s", c.name, strings.TrimSpace(r.stderr))
				assertNoAccount(t, net.B, crashy.DID)
				if n := logLen(crashy.DID); n != crashyOps {
					t.Errorf("the PLC log changed: %d ops, was %d", n, crashyOps)
				}
			})
		}
	})

	t.Run("restore refused without a usable rotation key", func(t *testing.T) {
		stranger, _ := plc.GenerateK256()
		strangerFile := filepath.Join(t.TempDir(), "other.key")
		if err := plc.WriteKeyFile(strangerFile, stranger); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			args []string
			want string
		}{
			{nil, "needs your rotation key"},
			{[]string{"--rotation-key", strangerFile}, "is not one of"},
		} {
			args := append([]string{"migrate", "--from-backup", crashDir, "--state-dir", t.TempDir(), "--yes"}, c.args...)
			r := atmigrate(t, restoreEnv, args...)
			if r.code != 2 {
				t.Fatalf("want exit 2\n%s", r)
			}
			mustContain(t, r, c.want, "atmigrate: hint:")
			assertNoAccount(t, net.B, crashy.DID)
			if n := logLen(crashy.DID); n != crashyOps {
				t.Errorf("the PLC log changed: %d ops, was %d", n, crashyOps)
			}
		}
	})

	t.Run("restore killed and resumed", func(t *testing.T) {
		state := t.TempDir()
		points := []string{"backup-tempkey-before-submit", "backup-tempkey-submitted", "account-created", "blob-uploaded#3", "plc-submitted"}
		for _, p := range points {
			r := restore(crashDir, state, map[string]string{"ATMIGRATE_TEST_CRASH_AT": p})
			if r.code != -1 {
				t.Fatalf("crash at %s: want the process killed\n%s", p, r)
			}
		}
		r := restore(crashDir, state, nil)
		if r.code != 0 {
			t.Fatalf("final run: %s", r)
		}
		t.Logf("final run after %d kills:\n%s", len(points), r.stderr)
		assertRestored(t, net, crashy, beforeCrashy, newPassword, userDID)
		if n := logLen(crashy.DID) - crashyOps; n != 2 {
			t.Errorf("%d PLC operations after the backup, want 2", n)
		}
		if fi, err := os.Stat(filepath.Join(state, "temp-signing-key")); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("temporary key file: %v %v", fi, err)
		}
	})

	t.Run("restore", func(t *testing.T) {
		state := t.TempDir()
		r := restore(mainDir, state, nil)
		if r.code != 0 {
			t.Fatalf("restore: %s", r)
		}
		t.Logf("restore:\n%s", r.stderr)
		mustContain(t, r, "all verified", "not contacted")
		if strings.Contains(r.stderr, newPassword) || strings.Contains(r.stderr, userKey.Multibase()) {
			t.Errorf("a secret leaked into the output")
		}
		assertRestored(t, net, main, before, newPassword, userDID)
		if n := logLen(main.DID) - mainOps; n != 2 {
			t.Errorf("%d PLC operations after the backup, want 2", n)
		}
		r = restore(mainDir, state, nil)
		if r.code != 0 {
			t.Fatalf("run after success: %s", r)
		}
		mustContain(t, r, "already migrated")
		if n := logLen(main.DID) - mainOps; n != 2 {
			t.Errorf("the run after success changed the log: %d ops after the backup", n)
		}
	})
}

// assertRestored checks B against the snapshot taken from A before it died,
// and the DID document.
func assertRestored(t *testing.T, net *localnet.Network, acct *localnet.Account, before snapshot, newPassword, userKey string) {
	t.Helper()
	ctx := ctxT(t)
	after := takeSnapshot(t, net.B.URL, acct.DID, newPassword)
	if !reflect.DeepEqual(after.records, before.records) {
		t.Errorf("records: %d on B, %d on A before", len(after.records), len(before.records))
	}
	if !reflect.DeepEqual(after.blobs, before.blobs) {
		t.Errorf("blobs: %d on B, %d on A before", len(after.blobs), len(before.blobs))
	}
	if after.prefs != before.prefs {
		t.Errorf("preferences differ:\nB: %s\nA: %s", after.prefs, before.prefs)
	}
	b := login(t, net.B.URL, acct.DID, newPassword)
	for _, c := range after.blobs {
		if err := b.FetchBlob(ctx, acct.DID, c, func(body io.Reader, _ int64, _ string) error {
			_, err := repo.CheckCID(c, body)
			return err
		}); err != nil {
			t.Errorf("blob %s on B: %v", c, err)
		}
	}
	st, err := plc.NewClient(net.PLCURL, nil).State(ctx, acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := b.GetRecommendedDidCredentials(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Endpoint() != net.B.URL || st.SigningKey() != cred.VerificationMethods["atproto"] {
		t.Errorf("DID document: endpoint %s key %s; want %s and B's key %s", st.Endpoint(), st.SigningKey(), net.B.URL, cred.VerificationMethods["atproto"])
	}
	want := append([]string{userKey}, cred.RotationKeys...)
	if !reflect.DeepEqual(st.RotationKeys(), want) {
		t.Errorf("rotation keys %v, want %v", st.RotationKeys(), want)
	}
	if rs, err := b.GetRepoStatus(ctx, acct.DID); err != nil || !rs.Active {
		t.Errorf("B status: %+v, %v; want active", rs, err)
	}
	if _, err := b.CheckAccountStatus(ctx); err != nil {
		t.Errorf("check account status: %v", err)
	}
}

func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func fileSHA(t *testing.T, p string) (int64, string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return int64(len(b)), sha256Hex(b)
}

func rewriteManifest(t *testing.T, dir string, fn func(*backup.Manifest)) {
	t.Helper()
	m, err := backup.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	fn(m)
	if err := backup.WriteManifest(dir, m); err != nil {
		t.Fatal(err)
	}
}

// removeRecordBlock rewrites a CARv1 file without the block of one record
// (the first app.bsky.feed.post).
func removeRecordBlock(t *testing.T, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := repo.RecordIndex(ctxT(t), f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	var victim string
	for p, c := range idx {
		if strings.HasPrefix(p, "app.bsky.feed.post/") && (victim == "" || c < victim) {
			victim = c
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(bytes.NewReader(data))
	var out bytes.Buffer
	hlen, err := binary.ReadUvarint(r)
	if err != nil {
		t.Fatal(err)
	}
	header := make([]byte, hlen)
	io.ReadFull(r, header)
	out.Write(binary.AppendUvarint(nil, hlen))
	out.Write(header)
	removed := 0
	for {
		n, err := binary.ReadUvarint(r)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		sec := make([]byte, n)
		if _, err := io.ReadFull(r, sec); err != nil {
			t.Fatal(err)
		}
		_, c, err := cid.CidFromBytes(sec)
		if err != nil {
			t.Fatal(err)
		}
		if c.String() == victim {
			removed++
			continue
		}
		out.Write(binary.AppendUvarint(nil, n))
		out.Write(sec)
	}
	if removed == 0 {
		t.Fatalf("record block %s not found in %s", victim, path)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}
