package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/did-method-plc/go-didplc/didplc"

	"github.com/atmigrate/atmigrate/e2e/localnet"
	"github.com/atmigrate/atmigrate/plc"
)

// hostileOp points did at endpoint with an operation signed by keyMultibase
// (a private key), posted straight to the PLC directory, and returns its CID.
func hostileOp(t *testing.T, net *localnet.Network, did, keyMultibase, endpoint string) string {
	t.Helper()
	client := plc.NewClient(net.PLCURL, nil)
	st, err := client.State(ctxT(t), did)
	if err != nil {
		t.Fatal(err)
	}
	key, err := plc.ParsePrivateKey(keyMultibase, "")
	if err != nil {
		t.Fatal(err)
	}
	op := st.Op // a deep copy
	prev := st.Head.CID
	op.Prev = &prev
	op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: endpoint}
	if err := plc.Sign(&op, key); err != nil {
		t.Fatal(err)
	}
	if err := client.Submit(ctxT(t), did, &op); err != nil {
		t.Fatalf("submit the hostile operation: %v", err)
	}
	return plc.OpCID(&op)
}

// watchLoop starts `atmigrate watch` without --once and returns once it
// printed its first check; wait gives its exit code and output.
func watchLoop(t *testing.T, dir string) (wait func() run) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	cmd := exec.CommandContext(ctx, binPath, "watch", "--state-dir", dir, "--interval", "1s")
	cmd.Env = baseEnv(t, nil)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(pipe)
	var out strings.Builder
	if !sc.Scan() || !strings.Contains(sc.Text(), "no change") {
		cancel()
		t.Fatalf("watch's first line: %q (stderr %s)", sc.Text(), errb.String())
	}
	out.WriteString(sc.Text() + "\n")
	return func() run {
		defer cancel()
		for sc.Scan() {
			out.WriteString(sc.Text() + "\n")
		}
		err := cmd.Wait()
		code := 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("watch: %v", err)
		}
		return run{code: code, stdout: out.String(), stderr: errb.String()}
	}
}

// TestWatchAndRecover: after a migration with the user's key first, an
// operation signed by the new PDS's key (listed below it) moves the DID
// away. `watch` sees it (exit 1, naming it, the signer's position and the
// command that undoes it); `plc recover` refuses keys that are not high
// enough and a --to that is not in the log, then undoes it with the user's
// key: the hostile operation is nullified, the DID points at B again,
// `verify` passes and `watch --once` is back to exit 0.
func TestWatchAndRecover(t *testing.T) {
	net := sharedNet(t)
	keyPath, userDK := userKey(t)
	acct := seed(t, net.A, localnet.SeedSpec{Handle: uniq("wr"), Posts: 20, Blobs: 2, BlobMinBytes: 2000, BlobMaxBytes: 5000, RecoveryKey: userDK})
	state := t.TempDir()
	r := atmigrate(t, migrateEnv(net, acct), "migrate", "--yes", "--state-dir", state, "--rotation-key", keyPath)
	if r.code != 0 {
		t.Fatalf("migrate: %s", r)
	}
	mustContain(t, r, "identity  switched by", "a key above that one can undo the switch: none", "atmigrate watch --state-dir "+state)
	if i := strings.Index(r.stderr, "atmigrate: "+acct.DID+" now lives on"); i >= 0 {
		t.Logf("the end of the migration:\n%s", r.stderr[i:])
	}
	if r = atmigrate(t, nil, "status", "--state-dir", state); r.code != 0 {
		t.Fatalf("status: %s", r)
	}
	mustContain(t, r, "rotation keys now: [0] "+userDK, "atmigrate watch --state-dir")

	watchOnce := func() run { return atmigrate(t, nil, "watch", "--once", "--state-dir", state) }
	if r = watchOnce(); r.code != 0 {
		t.Fatalf("watch --once right after the migration: want exit 0\n%s", r)
	}
	mustContain(t, r, "no operation after ours changed the DID", "nothing changed")
	t.Logf("watch --once after the migration:\n%s", r.stdout)

	// A directory that does not answer: exit 4, not "nothing changed".
	raw, err := os.ReadFile(filepath.Join(state, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	down := t.TempDir()
	if err := os.WriteFile(filepath.Join(down, "state.json"), bytes.Replace(raw, []byte(net.PLCURL), []byte("http://127.0.0.1:1"), 1), 0o600); err != nil {
		t.Fatal(err)
	}
	if r = atmigrate(t, nil, "watch", "--once", "--state-dir", down); r.code != 4 {
		t.Fatalf("watch --once with the PLC directory down: want exit 4\n%s", r)
	}

	// The hostile operation, signed by B's rotation key: [1] after the user's.
	wait := watchLoop(t, state)
	bKeyDID := newPDSRotationKey(t, net, acct.DID, acct.Password)
	if bKeyDID != net.B.RotationKeyDID {
		t.Fatalf("B's rotation key %s, want %s", bKeyDID, net.B.RotationKeyDID)
	}
	hostile := hostileOp(t, net, acct.DID, net.B.RotationKeyMultibase, "https://evil.example")
	if r = wait(); r.code != 1 {
		t.Fatalf("watch (loop) after the hostile op: want exit 1\n%s", r)
	}
	mustContain(t, r, hostile, "CHANGED")
	t.Logf("watch (loop) (exit %d):\n%s", r.code, r.stdout)

	r = watchOnce()
	if r.code != 1 {
		t.Fatalf("watch --once after the hostile op: want exit 1\n%s", r)
	}
	mustContain(t, r, hostile, "signed by rotation key [1] "+bKeyDID, "+ atproto_pds: https://evil.example",
		"keys that can: [0] "+userDK, "atmigrate plc recover --state-dir "+state+" --rotation-key KEY_FILE", "left (until")
	t.Logf("watch --once after the hostile op (exit %d):\n%s", r.code, r.stdout)
	if r = atmigrate(t, nil, "watch", "--once", "--json", "--state-dir", state); r.code != 1 || !strings.Contains(r.stdout, `"signerIndex":1`) {
		t.Errorf("watch --once --json: %s", r)
	}

	// Refusals: nothing reaches the directory.
	bKeyPath := filepath.Join(t.TempDir(), "b.key")
	if err := os.WriteFile(bKeyPath, []byte(net.B.RotationKeyMultibase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = atmigrate(t, nil, "plc", "recover", "--state-dir", state, "--rotation-key", bKeyPath, "--yes")
	if r.code != 2 {
		t.Fatalf("recover with the hostile op's own key: want exit 2\n%s", r)
	}
	mustContain(t, r, "not high enough", "[1] "+bKeyDID)
	t.Logf("plc recover with B's key (exit %d):\n%s", r.code, r.stderr)
	strangerPath, _ := userKey(t)
	r = atmigrate(t, nil, "plc", "recover", "--state-dir", state, "--rotation-key", strangerPath, "--yes")
	if r.code != 2 {
		t.Fatalf("recover with a key that is not a rotation key: want exit 2\n%s", r)
	}
	mustContain(t, r, "not a rotation key")
	r = atmigrate(t, nil, "plc", "recover", "--account", acct.DID, "--plc-url", net.PLCURL, "--rotation-key", keyPath,
		"--to", "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy", "--yes")
	if r.code != 2 {
		t.Fatalf("recover --to a CID not in the log: want exit 2\n%s", r)
	}
	mustContain(t, r, "not in the audit log", "plc log")
	if r = atmigrate(t, nil, "plc", "recover", "--state-dir", state, "--rotation-key", keyPath); r.code != 2 {
		t.Fatalf("recover without --yes and without a terminal: want exit 2\n%s", r)
	}
	if got := rotationKeys(t, net, acct.DID); len(got) != 2 {
		t.Fatalf("rotation keys %v", got)
	}

	r = atmigrate(t, nil, "plc", "recover", "--state-dir", state, "--rotation-key", keyPath, "--yes")
	if r.code != 0 {
		t.Fatalf("recover with the user's key: want exit 0\n%s", r)
	}
	mustContain(t, r, hostile, "points at "+net.B.URL+" again")
	t.Logf("plc recover:\n%s", r.stderr)

	log, err := plc.NewClient(net.PLCURL, nil).AuditLog(ctxT(t), acct.DID)
	if err != nil {
		t.Fatal(err)
	}
	nullified := false
	for _, e := range log {
		if e.CID == hostile {
			nullified = e.Nullified
		}
	}
	if !nullified {
		t.Errorf("the hostile operation is not nullified in the audit log")
	}
	st, err := plc.StateFromLog(acct.DID, log)
	if err != nil {
		t.Fatal(err)
	}
	if st.Endpoint() != net.B.URL || st.Head.Operation.Regular.Prev == nil {
		t.Errorf("after recovery the DID points at %s, want %s", st.Endpoint(), net.B.URL)
	}

	env, args := verifyArgs(net, acct)
	if r = atmigrate(t, env, args...); r.code != 0 {
		t.Fatalf("verify after the recovery: want exit 0\n%s", r)
	}
	if r = watchOnce(); r.code != 0 {
		t.Fatalf("watch --once after the recovery: want exit 0\n%s", r)
	}
	mustContain(t, r, "changed nothing", "nothing changed")
	t.Logf("watch --once after the recovery:\n%s", r.stdout)

	// The new account deactivated is a change too. (The old PDS cannot
	// activate its account again once its key left the DID; the fake
	// network tests that case, migrate/guard_test.go.)
	if err := login(t, net.B.URL, acct.DID, acct.Password).DeactivateAccount(ctxT(t)); err != nil {
		t.Fatalf("deactivate the new account: %v", err)
	}
	if r = watchOnce(); r.code != 1 {
		t.Fatalf("watch --once with the new account deactivated: want exit 1\n%s", r)
	}
	mustContain(t, r, "the account on the new PDS "+net.B.URL+" is not active (deactivated)")
}
