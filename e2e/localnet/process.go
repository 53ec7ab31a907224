package localnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// readyTimeout bounds how long a server may take to print READY. A cold
// start is about 1.5 s; the margin is for a loaded CI machine.
const readyTimeout = 90 * time.Second

// stopGrace is how long a server gets to exit after SIGTERM before SIGKILL.
const stopGrace = 5 * time.Second

// readyInfo is the JSON a server prints after "READY ".
type readyInfo struct {
	URL string `json:"url"`
	DID string `json:"did"`
}

// server is one Node process of the network.
type server struct {
	name    string
	logPath string
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	logFile *os.File
	ready   chan readyInfo
	done    chan struct{} // closed once the process has exited
	waitErr error         // set before done is closed

	stopOnce sync.Once
	stopErr  error
}

// startServer launches `node server.js args...`, under the Node binary
// for the PDS version (Version04 for the PLC directory), with its output going to
// <dir>/<name>.log and, prefixed with the name, to out (if not nil). It does
// not wait for READY; see waitReady.
func startServer(name, version, dir string, out io.Writer, args ...string) (*server, error) {
	node, err := nodePath(version)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(node, append([]string{filepath.Join(SourceDir(), "server.js")}, args...)...)
	cmd.Dir = SourceDir()
	cmd.Env = append(os.Environ(),
		// PDS logs are off unless enabled; keep warnings and errors in the log
		// file so a failing test can show them. LOG_LEVEL may be overridden.
		"LOG_ENABLED=true",
		"LOG_LEVEL="+envOr("LOCALNET_LOG_LEVEL", "warn"),
		"NODE_ENV=development",
	)
	return startProcess(name, filepath.Join(dir, name+".log"), false, out, cmd, nil)
}

// startProcess starts cmd as the server name, its output going to logPath
// (appended to when appendLog, else truncated) and, prefixed with the name,
// to out (if not nil). onLine, if not nil, sees each line of its standard
// output, after the server's own READY watcher. The process leads its own
// group and dies with this one.
func startProcess(name, logPath string, appendLog bool, out io.Writer, cmd *exec.Cmd, onLine func(string)) (*server, error) {
	flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
	if appendLog {
		flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
	}
	logFile, err := os.OpenFile(logPath, flags, 0o600)
	if err != nil {
		return nil, fmt.Errorf("localnet: create log %s: %w", name, err)
	}
	s := &server{
		name:    name,
		logPath: logPath,
		logFile: logFile,
		ready:   make(chan readyInfo, 1),
		done:    make(chan struct{}),
	}
	var sink io.Writer = logFile
	if out != nil {
		sink = io.MultiWriter(logFile, &prefixWriter{prefix: "[" + name + "] ", w: out})
	}
	watch := s.onStdoutLine
	if onLine != nil {
		watch = func(line string) {
			s.onStdoutLine(line)
			onLine(line)
		}
	}
	cmd.Stdout = &lineWatcher{w: sink, onLine: watch}
	cmd.Stderr = sink
	cmd.SysProcAttr = sysProcAttr()
	// A Node server exits when its stdin closes, which happens when this
	// process dies for any reason (a second guard next to Pdeathsig).
	s.stdin, err = cmd.StdinPipe()
	if err != nil {
		logFile.Close()
		return nil, fmt.Errorf("localnet: stdin pipe for %s: %w", name, err)
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("localnet: start %s: %w", name, err)
	}
	s.cmd = cmd
	go func() {
		s.waitErr = cmd.Wait()
		logFile.Close()
		close(s.done)
	}()
	return s, nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (s *server) onStdoutLine(line string) {
	rest, ok := strings.CutPrefix(line, "READY ")
	if !ok {
		return
	}
	var info readyInfo
	if err := json.Unmarshal([]byte(rest), &info); err != nil {
		return
	}
	select {
	case s.ready <- info:
	default:
	}
}

// waitReady waits for the READY line, the process's exit, ctx or the
// timeout, whichever comes first.
func (s *server) waitReady(ctx context.Context) (readyInfo, error) {
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case info := <-s.ready:
		return info, nil
	case <-s.done:
		return readyInfo{}, fmt.Errorf("localnet: %s exited before it was ready (%v); log tail:\n%s", s.name, s.waitErr, s.logTail())
	case <-timer.C:
		return readyInfo{}, fmt.Errorf("localnet: %s not ready after %s; log tail:\n%s", s.name, readyTimeout, s.logTail())
	case <-ctx.Done():
		return readyInfo{}, fmt.Errorf("localnet: waiting for %s: %w", s.name, ctx.Err())
	}
}

// logTail returns the last few KB of the server's log.
func (s *server) logTail() string {
	return logTail(s.logPath)
}

// logTail returns the last few KB of a log file, from a line start.
func logTail(path string) string {
	const max = 4096
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

// exited reports whether the process has already ended.
func (s *server) exited() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and, if the server is still running after stopGrace,
// SIGKILL. An exit caused by our own signal is not an error.
func (s *server) stop() error {
	s.stopOnce.Do(func() {
		if s.exited() {
			return
		}
		if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
			s.stopErr = fmt.Errorf("localnet: signal %s: %w", s.name, err)
		}
		select {
		case <-s.done:
			if ee := (*exec.ExitError)(nil); errors.As(s.waitErr, &ee) && ee.ExitCode() != 0 && ee.ExitCode() != -1 {
				s.stopErr = fmt.Errorf("localnet: %s exited with code %d after SIGTERM", s.name, ee.ExitCode())
			}
		case <-time.After(stopGrace):
			s.killGroup()
			<-s.done
			s.stopErr = fmt.Errorf("localnet: %s ignored SIGTERM for %s and was killed", s.name, stopGrace)
		}
	})
	return s.stopErr
}

// kill sends SIGKILL to the server's process group and waits for it to end.
func (s *server) kill() error {
	if s.exited() {
		return nil
	}
	s.killGroup()
	<-s.done
	return nil
}

func (s *server) killGroup() {
	// The process leads its own group (Setpgid); kill the group so nothing it
	// might have spawned survives.
	if err := syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		_ = s.cmd.Process.Kill()
	}
}

// lineWatcher passes everything through to w and calls onLine for each
// complete line.
type lineWatcher struct {
	w      io.Writer
	onLine func(string)
	buf    []byte
}

func (l *lineWatcher) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			break
		}
		l.onLine(strings.TrimRight(string(l.buf[:i]), "\r"))
		l.buf = l.buf[i+1:]
	}
	if len(l.buf) > 1<<16 { // a line this long is not a READY line
		l.buf = l.buf[:0]
	}
	return l.w.Write(p)
}

// prefixWriter writes whole lines to w, each with prefix. It is shared by
// the servers, so writes are serialized.
type prefixWriter struct {
	prefix string
	w      io.Writer
	buf    []byte
}

var prefixMu sync.Mutex

func (p *prefixWriter) Write(b []byte) (int, error) {
	prefixMu.Lock()
	defer prefixMu.Unlock()
	p.buf = append(p.buf, b...)
	for {
		i := bytes.IndexByte(p.buf, '\n')
		if i < 0 {
			break
		}
		if _, err := fmt.Fprintf(p.w, "%s%s\n", p.prefix, p.buf[:i]); err != nil {
			return len(b), nil // a broken log sink must not stop the server
		}
		p.buf = p.buf[i+1:]
	}
	return len(b), nil
}
