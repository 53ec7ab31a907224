package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The CLI is tested as scripts see it: the test binary runs itself as
// atmigrate (main, its exit code, its stdout and stderr) in a child
// process, so every run starts from fresh flags and a clean environment.

const runMainEnv = "ATMIGRATE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runMainEnv) == "1" {
		main() // exits
	}
	os.Exit(m.Run())
}

type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s--- stderr\n%s", r.code, r.stdout, r.stderr)
}

// atmigrate runs the CLI with args and env, on top of an environment
// without any ATMIGRATE_ variable and with an empty state root (unless env
// gives XDG_STATE_HOME).
func atmigrate(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATMIGRATE_") && !strings.HasPrefix(kv, "XDG_STATE_HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	// No test reaches a host outside loopback: the default relay and
	// AppView are off unless env names local ones.
	cmd.Env = append(cmd.Env, runMainEnv+"=1", "XDG_STATE_HOME="+t.TempDir(), "ATMIGRATE_RELAY=none", "ATMIGRATE_APPVIEW=none")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run atmigrate %s: %v", strings.Join(args, " "), err)
	}
	return r
}

// Every mistake on the command line is exit 2 with an error and a hint,
// never exit 1 or 3 (3 tells a script a migration waits for its token),
// never a silent exit or a page of help instead of the error.
func TestUsageMistakesExit2(t *testing.T) {
	for _, args := range [][]string{
		{"nosuch"},
		{"help", "nosuch"},
		{"--nosuch"},
		{"migrate", "--nosuch"},
		{"migrate", "stray"},
		{"batch", "--nosuch"},
		{"batch", "nosuch"},
		{"batch", "status", "--nosuch"},
		{"status", "--nosuch"},
		{"status", "stray"},
		{"verify", "--nosuch"},
		{"export", "--nosuch"},
		{"watch", "--nosuch"},
		{"watch"},
		{"plc", "nosuch"},
		{"plc", "help", "nosuch"},
		{"plc", "log", "--nosuch"},
		{"plc", "log"},
		{"plc", "keygen"},
		{"plc", "keygen", "--nosuch"},
		{"plc", "add-rotation-key", "--nosuch"},
		{"plc", "add-rotation-key"},
		{"plc", "recover", "--nosuch"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			r := atmigrate(t, nil, args...)
			if r.code != exitUsage {
				t.Fatalf("want exit 2\n%s", r)
			}
			if !strings.Contains(r.stderr, "atmigrate: error: ") || !strings.Contains(r.stderr, "atmigrate: hint: ") {
				t.Errorf("want an error and a hint on stderr\n%s", r)
			}
			if r.stdout != "" {
				t.Errorf("want nothing on stdout (no help page instead of the error)\n%s", r)
			}
		})
	}
}

// The hint names the command the mistake was made in.
func TestUsageHintNamesTheCommand(t *testing.T) {
	for args, want := range map[string]string{
		"nosuch":                 "unknown command 'nosuch'",
		"plc nosuch":             "see `atmigrate plc --help`",
		"batch status --nosuch":  "see `atmigrate batch status --help`",
		"plc log --nosuch":       "see `atmigrate plc log --help`",
		"--nosuch":               "see `atmigrate --help`",
		"migrate stray":          "unexpected argument 'stray'",
		"plc add-rotation-key x": "see `atmigrate plc add-rotation-key --help`",
	} {
		if r := atmigrate(t, nil, strings.Fields(args)...); !strings.Contains(r.stderr, want) {
			t.Errorf("atmigrate %s: want %q on stderr\n%s", args, want, r)
		}
	}
}

// Help still works, with exit 0, however it is asked for.
func TestHelpExits0(t *testing.T) {
	for _, args := range []string{"", "--help", "help", "plc", "plc --help", "migrate --help", "migrate help", "help migrate", "batch status --help"} {
		r := atmigrate(t, nil, strings.Fields(args)...)
		if r.code != 0 || !strings.Contains(r.stdout, "USAGE:") {
			t.Errorf("atmigrate %s: want help and exit 0\n%s", args, r)
		}
	}
}

// The commands with exit codes of their own list them in --help, from
// the one table (exitDocs).
func TestHelpListsExitCodes(t *testing.T) {
	for _, must := range []string{"migrate", "batch", "verify", "watch"} {
		if _, ok := exitDocs[must]; !ok {
			t.Errorf("exitDocs has no row for %s", must)
		}
	}
	for command, docs := range exitDocs {
		r := atmigrate(t, nil, append(strings.Fields(command), "--help")...)
		if r.code != 0 || !strings.Contains(r.stdout, "Exit codes:") {
			t.Errorf("%s --help has no exit codes\n%s", command, r)
			continue
		}
		for _, d := range docs {
			if line := fmt.Sprintf("%-4d %s", d.code, d.meaning); !strings.Contains(r.stdout, line) {
				t.Errorf("%s --help lacks %q", command, line)
			}
		}
	}
}
