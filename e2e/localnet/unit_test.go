package localnet

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPLCTokenPicksNewestForEmail(t *testing.T) {
	p := &PDS{Name: "pds-x", DataDir: t.TempDir()}
	if m, err := p.Mail(); err != nil || m != nil {
		t.Fatalf("Mail with no file = %v, %v; want nil, nil", m, err)
	}
	lines := `{"template":"plcOperation","to":"a@example.com","token":"OLD","time":"2026-01-01T00:00:00Z"}
{"template":"confirmEmail","to":"a@example.com","token":"CONFIRM","time":"2026-01-01T00:00:01Z"}
{"template":"plcOperation","to":"b@example.com","token":"BTOK","time":"2026-01-01T00:00:02Z"}
{"template":"plcOperation","to":"A@Example.com","token":"NEW","time":"2026-01-01T00:00:03Z"}

{"template":"confirmEmail","to":"a@example.com","token":"CONFIRM2","time":"2026-01-01T00:00:04Z"}
`
	if err := os.WriteFile(filepath.Join(p.DataDir, "mail.jsonl"), []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	mails, err := p.Mail()
	if err != nil {
		t.Fatal(err)
	}
	if len(mails) != 5 || mails[1].Template != "confirmEmail" || mails[4].Time.Second() != 4 {
		t.Fatalf("Mail = %+v", mails)
	}
	for email, want := range map[string]string{"a@example.com": "NEW", "b@example.com": "BTOK"} {
		if got, err := p.PLCToken(email); err != nil || got != want {
			t.Errorf("PLCToken(%s) = %q, %v; want %q", email, got, err, want)
		}
	}
	if _, err := p.PLCToken("c@example.com"); !errors.Is(err, ErrNoMail) {
		t.Errorf("PLCToken(unknown) err = %v, want ErrNoMail", err)
	}
}

func TestMailRejectsGarbage(t *testing.T) {
	p := &PDS{DataDir: t.TempDir()}
	if err := os.WriteFile(filepath.Join(p.DataDir, "mail.jsonl"), []byte("{not json\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Mail(); err == nil {
		t.Error("Mail parsed a broken line")
	}
}

func TestLineWatcherSplitsLinesAcrossWrites(t *testing.T) {
	var got []string
	var out bytes.Buffer
	w := &lineWatcher{w: &out, onLine: func(s string) { got = append(got, s) }}
	for _, chunk := range []string{"log line\nREA", "DY {\"url\":\"http://x\"}\r\n", "partial"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != "log line" || got[1] != `READY {"url":"http://x"}` {
		t.Errorf("lines = %q", got)
	}
	if out.String() != "log line\nREADY {\"url\":\"http://x\"}\r\npartial" {
		t.Errorf("passthrough = %q", out.String())
	}
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	w := &prefixWriter{prefix: "[a] ", w: &out}
	w.Write([]byte("one\ntw"))
	w.Write([]byte("o\n"))
	if out.String() != "[a] one\n[a] two\n" {
		t.Errorf("got %q", out.String())
	}
}

func TestServerExitBeforeReadyShowsLog(t *testing.T) {
	if testing.Short() {
		t.Skip("runs node")
	}
	if _, err := nodePath(Version04); err != nil {
		t.Skip(err)
	}
	dir := t.TempDir()
	s, err := startServer("broken", Version04, dir, nil, "pds", filepath.Join(dir, "missing.json"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.waitReady(context.Background())
	if err == nil {
		t.Fatal("waitReady succeeded for a server without config")
	}
	if !strings.Contains(err.Error(), "exited before it was ready") || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("error lacks the exit or the log tail: %v", err)
	}
	if err := s.stop(); err != nil {
		t.Errorf("stop after exit: %v", err)
	}
}

func TestEnsureInstalledFindsSource(t *testing.T) {
	if _, err := os.Stat(filepath.Join(SourceDir(), "server.js")); err != nil {
		t.Fatalf("SourceDir %q has no server.js: %v", SourceDir(), err)
	}
	if filepath.Base(NodeModulesDir()) != "node_modules" {
		t.Errorf("NodeModulesDir = %q", NodeModulesDir())
	}
}

func TestNormVersion(t *testing.T) {
	for in, want := range map[string]string{"": Version04, "0.4": Version04, "0.4.217": Version04, "0.5": Version05, "0.5.35": Version05} {
		if got, err := normVersion(in); err != nil || got != want {
			t.Errorf("normVersion(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"0.3", "0.5.34", "latest"} {
		if _, err := normVersion(bad); err == nil {
			t.Errorf("normVersion(%q) accepted", bad)
		}
	}
	// The pins agree with the npm projects that install them.
	for v, dir := range map[string]string{Version04: SourceDir(), Version05: PDS05Dir()} {
		b, err := os.ReadFile(filepath.Join(dir, "package.json"))
		if err != nil {
			t.Fatal(err)
		}
		if want := `"@atproto/pds": "` + pdsPackageVersion[v] + `"`; !strings.Contains(string(b), want) {
			t.Errorf("%s/package.json lacks %s", dir, want)
		}
	}
}

func TestPDSHostname(t *testing.T) {
	for _, c := range []struct {
		p    PDS
		want string
	}{
		{PDS{Port: 2583, URL: "http://localhost:2583"}, "localhost:2583"},
		{PDS{URL: "http://localhost:4000"}, "localhost:4000"},
		{PDS{URL: "https://pds.example.com"}, "pds.example.com"},
	} {
		if got := c.p.Hostname(); got != c.want {
			t.Errorf("Hostname(%+v) = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestEnsureRelayInstalledSaysHow(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LOCALNET_RELAY_BIN", dir)
	if RelayPath() != filepath.Join(dir, "relay") {
		t.Fatalf("RelayPath = %s, want it under $LOCALNET_RELAY_BIN", RelayPath())
	}
	err := EnsureRelayInstalled()
	if err == nil || !strings.Contains(err.Error(), "make localnet-relay") {
		t.Fatalf("EnsureRelayInstalled with no binary = %v, want a hint to run make localnet-relay", err)
	}
	for _, name := range []string{"relay", "relayhosts"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := EnsureRelayInstalled(); err != nil {
		t.Fatalf("EnsureRelayInstalled with both binaries: %v", err)
	}
}

func TestConnWatchReadsRelayLog(t *testing.T) {
	var c connWatch
	c.reset()
	hosts := []string{"localhost:1", "localhost:2"}
	if m, _ := c.missing(hosts); len(m) != 2 {
		t.Fatalf("missing at start = %v", m)
	}
	_, changed := c.missing(hosts)
	c.onLogLine(`{"time":"x","level":"DEBUG","msg":"event subscription response","system":"slurper","host":"localhost:1","code":101}`)
	select {
	case <-changed:
	default:
		t.Fatal("no change signalled")
	}
	c.onLogLine(`{"level":"INFO","msg":"something else","host":"localhost:2"}`)
	c.onLogLine(`not json "host"`)
	if m, _ := c.missing(hosts); len(m) != 1 || m[0] != "localhost:2" {
		t.Fatalf("missing = %v, want [localhost:2]", m)
	}
	c.onLogLine(`{"level":"WARN","msg":"host connection failed","host":"localhost:1"}`)
	if m, _ := c.missing(hosts); len(m) != 2 {
		t.Fatalf("missing after a failed connection = %v, want both", m)
	}
}
