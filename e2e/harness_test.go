package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

// binPath is the atmigrate binary built once for all tests.
var binPath string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	for _, a := range os.Args {
		if a == "-test.short=true" || a == "-test.short" {
			return m.Run()
		}
	}
	// ATMIGRATE_E2E_BINARY runs the tests against another build (an
	// earlier commit's, to see that a new test fails without its fix),
	// built with -tags e2e like this one: the kill tests need the crash
	// points, which a release build leaves out.
	if binPath = os.Getenv("ATMIGRATE_E2E_BINARY"); binPath == "" {
		dir, err := os.MkdirTemp("", "atmigrate-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		binPath = filepath.Join(dir, "atmigrate")
		cmd := exec.Command("go", "build", "-tags", "e2e", "-o", binPath, "../cmd/atmigrate")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build atmigrate:", err)
			return 1
		}
	}
	code := m.Run()
	closeNamedNets()
	return code
}

// namedNets are networks shared by the tests that ask for them by name,
// each started on first use and stopped once every test is done.
var (
	namedNetsMu sync.Mutex
	namedNets   = map[string]*namedNetEntry{}
)

type namedNetEntry struct {
	once sync.Once
	net  *localnet.Network
	err  error
}

// namedNet is the network called name, started once with opts (and
// checked by check, when given) for every test that asks for it.
func namedNet(t *testing.T, name string, opts localnet.Options, check func(*localnet.Network) error) *localnet.Network {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs the local network")
	}
	namedNetsMu.Lock()
	e := namedNets[name]
	if e == nil {
		e = &namedNetEntry{}
		namedNets[name] = e
	}
	namedNetsMu.Unlock()
	e.once.Do(func() {
		dir, err := os.MkdirTemp("", "atmigrate-e2e-"+name+"-")
		if err != nil {
			e.err = err
			return
		}
		opts.Dir = dir
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		start := time.Now()
		e.net, e.err = localnet.Start(ctx, opts)
		if e.err != nil {
			os.RemoveAll(dir)
			return
		}
		if check != nil {
			e.err = check(e.net)
		}
		t.Logf("network %s up in %s", name, time.Since(start).Round(time.Millisecond))
	})
	if e.err != nil {
		t.Fatalf("start the local network %s: %v", name, e.err)
	}
	return e.net
}

// closeNamedNets stops the shared networks (from TestMain).
func closeNamedNets() {
	namedNetsMu.Lock()
	defer namedNetsMu.Unlock()
	for _, e := range namedNets {
		if e.net != nil {
			e.net.Close()
			os.RemoveAll(e.net.Dir)
		}
	}
}

// sharedNet is one network for the tests that only need distinct accounts.
func sharedNet(t *testing.T) *localnet.Network {
	t.Helper()
	return namedNet(t, "net", localnet.Options{}, nil)
}

// newNet starts a network of the test's own (for tests that stop servers
// or need other options).
func newNet(t *testing.T, opts localnet.Options) *localnet.Network {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: needs the local network")
	}
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	n, err := localnet.Start(ctx, opts)
	if err != nil {
		t.Fatalf("start the local network: %v", err)
	}
	t.Cleanup(n.Close)
	return n
}

// run is one finished invocation of the binary.
type run struct {
	code           int
	stdout, stderr string
}

func (r run) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// atmigrate runs the binary with stdin not a terminal, env added to a
// clean environment.
func atmigrate(t *testing.T, env map[string]string, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = baseEnv(t, env)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run atmigrate: %v", err)
	}
	return run{code: code, stdout: out.String(), stderr: errb.String()}
}

func baseEnv(t *testing.T, env map[string]string) []string {
	e := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "XDG_STATE_HOME=" + t.TempDir()}
	// No test reaches a host outside loopback: the default relay and
	// AppView are off unless env names local ones (the later entry wins).
	e = append(e, "ATMIGRATE_RELAY=none", "ATMIGRATE_APPVIEW=none")
	for k, v := range env {
		e = append(e, k+"="+v)
	}
	return e
}

// migrateEnv is the environment for moving acct from A to B of net.
func migrateEnv(net *localnet.Network, acct *localnet.Account) map[string]string {
	return map[string]string{
		"ATMIGRATE_ACCOUNT":      acct.DID,
		"ATMIGRATE_OLD_PASSWORD": acct.Password,
		"ATMIGRATE_NEW_PDS":      net.B.URL,
		"ATMIGRATE_PLC_URL":      net.PLCURL,
	}
}

func seed(t *testing.T, p *localnet.PDS, spec localnet.SeedSpec) *localnet.Account {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	a, err := p.CreateAccount(ctx, spec)
	if err != nil {
		t.Fatalf("seed %s: %v", spec.Handle, err)
	}
	return a
}

// uniq makes a handle label unique across tests sharing a network.
func uniq(prefix string) string {
	return fmt.Sprintf("%s%d", prefix, time.Now().UnixNano()%1_000_000_000)
}

func mustContain(t *testing.T, r run, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.stderr+r.stdout, s) {
			t.Errorf("output lacks %q:\n%s", s, r)
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
