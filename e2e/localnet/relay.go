package localnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The relay is indigo's reference relay, cmd/relay, at the indigo version
// the root go.mod pins, on sqlite. `make localnet-relay` builds it, with the
// helper relayhosts (e2e/localnet/relayhosts, a nested Go module) that
// writes host rows into its database.
//
// Following a loopback PDS takes a database row and a (re)start: the relay
// adds hosts while running only through requestCrawl, public or admin, and
// both first call the host's describeServer through a transport that dials
// only public addresses, so they refuse 127.0.0.1. At start the relay
// subscribes to every `active` row of its host table, localhost:<port>
// included (ws://, as the row says no_ssl). A new row has last_seq -1, so
// the relay reads the host's stream from its live end: what the PDS
// emitted before the relay connected is not seen. StartRelay, Follow and
// Restart return once the relay is connected to every followed PDS that
// runs.

// DefaultRelayAccountLimit is the account limit a followed host gets when
// none is given; the relay's own default-account-limit is the same.
const DefaultRelayAccountLimit = 100

// relayReadyTimeout bounds the relay's start-up (it answers in well under
// a second) and relayConnectTimeout its first connection to each followed
// PDS.
const (
	relayReadyTimeout   = 30 * time.Second
	relayConnectTimeout = 15 * time.Second
)

// relayWaitTimeout bounds WaitRepo and WaitHost when ctx has no deadline.
const relayWaitTimeout = 30 * time.Second

// ErrRepoNotFound is returned by RepoStatus when the relay knows no such
// account (HTTP 404, RepoNotFound).
var ErrRepoNotFound = errors.New("localnet: relay: repo not found")

// ErrHostNotFound is returned by HostStatus when the relay has no such host
// (HTTP 404, HostNotFound).
var ErrHostNotFound = errors.New("localnet: relay: host not found")

// RelayBinDir is where `make localnet-relay` puts the relay and relayhosts
// binaries: bin/ next to this package's source, or $LOCALNET_RELAY_BIN.
func RelayBinDir() string {
	if d := os.Getenv("LOCALNET_RELAY_BIN"); d != "" {
		return d
	}
	return filepath.Join(SourceDir(), "bin")
}

// RelayPath is the relay binary.
func RelayPath() string {
	return filepath.Join(RelayBinDir(), "relay")
}

// relayHostsPath is the helper that adds hosts to the relay's database.
func relayHostsPath() string {
	return filepath.Join(RelayBinDir(), "relayhosts")
}

// EnsureRelayInstalled checks that the relay and its helper are built, and
// says how to build them when they are not.
func EnsureRelayInstalled() error {
	for _, p := range []string{RelayPath(), relayHostsPath()} {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("localnet: relay binary %s not found: run `make localnet-relay` (it builds indigo's cmd/relay, about 2-3 minutes the first time)", p)
		}
		if fi.IsDir() || fi.Mode()&0o111 == 0 {
			return fmt.Errorf("localnet: %s is not an executable file: run `make localnet-relay`", p)
		}
	}
	return nil
}

// RelayOptions configures a relay.
type RelayOptions struct {
	// Follow are the PDSes the relay subscribes to from the start.
	Follow []*PDS
	// AccountLimit is the account limit of each followed host (the relay
	// creates accounts past it as throttled); 0 means
	// DefaultRelayAccountLimit.
	AccountLimit int64
	// LenientSyncValidation makes the relay log, not drop, events that fail
	// its Sync 1.1 checks.
	LenientSyncValidation bool
}

// RelayHost is one upstream host as the relay reports it
// (com.atproto.sync.getHostStatus, listHosts).
type RelayHost struct {
	// Hostname is localhost:<port> for a PDS of this network.
	Hostname string
	// Status is the host's status at the relay: active, idle, offline,
	// throttled or banned.
	Status string
	// Seq is the last sequence number of the host's stream the relay has
	// persisted; -1 before any (it persists periodically and at shutdown).
	Seq int64
	// AccountCount is the number of the host's accounts the relay knows.
	AccountCount int64
}

// Relay is a running indigo relay of the network.
type Relay struct {
	// Name is "relay" (then "relay-2"...); it names the log and data dir.
	Name string
	// URL is the relay's base URL, http://127.0.0.1:<port>.
	URL string
	// Port is the TCP port the relay listens on (loopback only).
	Port int
	// AdminPassword authenticates the admin endpoints (HTTP basic, user
	// "admin").
	AdminPassword string
	// PLCURL is the PLC directory the relay resolves DIDs with.
	PLCURL string
	// Dir holds the relay's sqlite database (relay.sqlite) and its event
	// persistence (persist/).
	Dir string
	// LogPath is the relay's log file (JSON lines, debug level); restarts
	// append to it.
	LogPath string

	accountLimit int64
	lenient      bool
	out          io.Writer

	mu      sync.Mutex // serializes Follow, SetAccountLimit, Stop, Restart
	srv     *server
	follows map[string]*relayFollow // by hostname
	conns   connWatch
}

type relayFollow struct {
	pds   *PDS
	limit int64
}

// StartRelay starts an indigo relay that follows o.Follow, and returns
// once it answers and is connected to each of them. Network.Close stops it.
func (n *Network) StartRelay(ctx context.Context, o RelayOptions) (*Relay, error) {
	if err := EnsureRelayInstalled(); err != nil {
		return nil, err
	}
	limit := o.AccountLimit
	if limit == 0 {
		limit = DefaultRelayAccountLimit
	}
	if limit < 0 {
		return nil, fmt.Errorf("localnet: relay account limit %d is negative", limit)
	}
	ports, err := freePorts(1)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	name := "relay"
	if len(n.relays) > 0 {
		name = fmt.Sprintf("relay-%d", len(n.relays)+1)
	}
	r := &Relay{
		Name:          name,
		URL:           fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		Port:          ports[0],
		AdminPassword: randomHex(16),
		PLCURL:        n.PLCURL,
		Dir:           filepath.Join(n.Dir, name),
		LogPath:       filepath.Join(n.Dir, name+".log"),
		accountLimit:  limit,
		lenient:       o.LenientSyncValidation,
		out:           n.stdout,
		follows:       map[string]*relayFollow{},
	}
	n.relays = append(n.relays, r)
	n.mu.Unlock()

	if err := os.MkdirAll(r.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("localnet: create relay dir: %w", err)
	}
	// A fresh log: a relay's restarts append to it.
	if err := os.WriteFile(r.LogPath, nil, 0o600); err != nil {
		return nil, fmt.Errorf("localnet: create relay log: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var hosts []string
	for _, p := range o.Follow {
		h := p.Hostname()
		if _, dup := r.follows[h]; !dup {
			hosts = append(hosts, h)
		}
		r.follows[h] = &relayFollow{pds: p, limit: limit}
	}
	if err := r.addHosts(ctx, limit, hosts...); err != nil {
		return nil, err
	}
	if err := r.start(ctx); err != nil {
		r.stopLocked()
		return nil, err
	}
	return r, nil
}

// Hostname is the PDS's name as the relay knows it: localhost:<port>.
func (p *PDS) Hostname() string {
	if p.Port != 0 {
		return fmt.Sprintf("localhost:%d", p.Port)
	}
	if u, err := url.Parse(p.URL); err == nil && u.Host != "" {
		return u.Host
	}
	return p.URL
}

// Follow makes the relay subscribe to p with the given account limit (0:
// the relay's, from RelayOptions). The relay adds a loopback host only at
// start, so a running relay is stopped, given the host's row and started
// again (its cursors on the other hosts are kept, so it misses nothing of
// theirs); Follow returns once it is connected to p. A stopped relay
// follows p from its next start. Following p already, Follow only sets the
// limit.
func (r *Relay) Follow(ctx context.Context, p *PDS, limit int64) error {
	if limit == 0 {
		limit = r.accountLimit
	}
	if limit < 0 {
		return fmt.Errorf("localnet: relay account limit %d is negative", limit)
	}
	h := p.Hostname()
	r.mu.Lock()
	f, ok := r.follows[h]
	r.mu.Unlock()
	if ok {
		if f.limit == limit {
			return nil
		}
		return r.SetAccountLimit(ctx, p, limit)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	running := r.runningLocked()
	if running {
		if err := r.stopLocked(); err != nil {
			return err
		}
	}
	if err := r.addHosts(ctx, limit, h); err != nil {
		return err
	}
	r.follows[h] = &relayFollow{pds: p, limit: limit}
	if running {
		return r.start(ctx)
	}
	return nil
}

// Following reports whether the relay follows p (through StartRelay or
// Follow).
func (r *Relay) Following(p *PDS) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.follows[p.Hostname()]
	return ok
}

// SetAccountLimit changes the account limit of a followed host through the
// relay's admin endpoint, without a restart. Raising it activates that
// many of the host's throttled accounts at once (oldest first).
func (r *Relay) SetAccountLimit(ctx context.Context, p *PDS, limit int64) error {
	if limit < 0 {
		return fmt.Errorf("localnet: relay account limit %d is negative", limit)
	}
	h := p.Hostname()
	r.mu.Lock()
	defer r.mu.Unlock()
	f, ok := r.follows[h]
	if !ok {
		return fmt.Errorf("localnet: %s does not follow %s", r.Name, h)
	}
	if !r.runningLocked() {
		// Stopped: the row is changed in place for the next start.
		if err := r.addHosts(ctx, limit, h); err != nil {
			return err
		}
		f.limit = limit
		return nil
	}
	body, _ := json.Marshal(map[string]any{"host": h, "repo_limit": limit})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL+"/admin/pds/changeLimits", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("admin", r.AdminPassword)
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("localnet: relay changeLimits: %w", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("localnet: relay changeLimits %s to %d: HTTP %d: %s", h, limit, resp.StatusCode, bytes.TrimSpace(b))
	}
	f.limit = limit
	return nil
}

// Running reports whether the relay process is alive.
func (r *Relay) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.runningLocked()
}

func (r *Relay) runningLocked() bool {
	return r.srv != nil && !r.srv.exited()
}

// Stop ends the relay with SIGTERM (SIGKILL after 5 s); it persists its
// cursors as it shuts down. Stopping a stopped relay does nothing.
func (r *Relay) Stop() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopLocked()
}

func (r *Relay) stopLocked() error {
	if r.srv == nil {
		return nil
	}
	err := r.srv.stop()
	r.srv = nil
	r.conns.reset()
	return err
}

// Restart stops the relay (if it runs) and starts it again on the same
// port and database, returning once it is connected to the followed PDSes.
func (r *Relay) Restart(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.stopLocked(); err != nil {
		return err
	}
	return r.start(ctx)
}

// Close stops the relay, ignoring an unclean exit.
func (r *Relay) Close() {
	_ = r.Stop()
}

// LogTail returns the last few KB of the relay's log.
func (r *Relay) LogTail() string {
	return logTail(r.LogPath)
}

// start runs the relay and waits until it answers and is connected to
// every followed PDS that runs. r.mu is held.
func (r *Relay) start(ctx context.Context) error {
	args := []string{
		"--plc-host", r.PLCURL,
		// Debug: the relay says when it has connected to a host only at
		// this level (the wait below reads it), and logs each event.
		"--log-level", "debug",
		"serve",
		"--bind", fmt.Sprintf("127.0.0.1:%d", r.Port),
		"--db-url", "sqlite://" + r.dbPath(),
		"--persist-dir", filepath.Join(r.Dir, "persist"),
		"--metrics-listen", "127.0.0.1:0",
		"--allow-insecure-hosts",
		"--default-account-limit", strconv.FormatInt(r.accountLimit, 10),
	}
	if r.lenient {
		args = append(args, "--lenient-sync-validation")
	}
	cmd := exec.Command(RelayPath(), args...)
	// The relay loads a .env from its working directory: give it its own.
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "RELAY_ADMIN_PASSWORD="+r.AdminPassword)
	r.conns.reset()
	srv, err := startProcess(r.Name, r.LogPath, true, r.out, cmd, r.conns.onLogLine)
	if err != nil {
		return err
	}
	r.srv = srv
	if err := r.waitHealthy(ctx); err != nil {
		return err
	}
	var wait []string
	for h, f := range r.follows {
		if f.pds == nil || f.pds.srv == nil || f.pds.Running() {
			wait = append(wait, h)
		}
	}
	return r.waitConnected(ctx, wait)
}

func (r *Relay) dbPath() string {
	return filepath.Join(r.Dir, "relay.sqlite")
}

// waitHealthy polls /xrpc/_health until it answers 200.
func (r *Relay) waitHealthy(ctx context.Context) error {
	deadline := time.Now().Add(relayReadyTimeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/xrpc/_health", nil)
		if err != nil {
			return err
		}
		if resp, err := httpClient.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if r.srv.exited() {
			return fmt.Errorf("localnet: %s exited before it was ready (%v); log tail:\n%s", r.Name, r.srv.waitErr, r.LogTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("localnet: %s not ready after %s; log tail:\n%s", r.Name, relayReadyTimeout, r.LogTail())
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localnet: waiting for %s: %w", r.Name, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// waitConnected waits until the relay has opened its subscription to each
// of hosts.
func (r *Relay) waitConnected(ctx context.Context, hosts []string) error {
	timer := time.NewTimer(relayConnectTimeout)
	defer timer.Stop()
	for {
		missing, changed := r.conns.missing(hosts)
		if len(missing) == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-r.srv.done:
			return fmt.Errorf("localnet: %s exited (%v); log tail:\n%s", r.Name, r.srv.waitErr, r.LogTail())
		case <-timer.C:
			return fmt.Errorf("localnet: %s not connected to %s after %s; log tail:\n%s", r.Name, strings.Join(missing, ", "), relayConnectTimeout, r.LogTail())
		case <-ctx.Done():
			return fmt.Errorf("localnet: waiting for %s to connect: %w", r.Name, ctx.Err())
		}
	}
}

// addHosts writes host rows (or updates their limit and status) with the
// relayhosts helper. The relay must not be running.
func (r *Relay) addHosts(ctx context.Context, limit int64, hostnames ...string) error {
	if len(hostnames) == 0 {
		return nil
	}
	args := append([]string{"--db-url", "sqlite://" + r.dbPath(), "--account-limit", strconv.FormatInt(limit, 10)}, hostnames...)
	cmd := exec.CommandContext(ctx, relayHostsPath(), args...)
	cmd.Dir = r.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("localnet: relayhosts %s: %w: %s", strings.Join(hostnames, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// connWatch follows, from the relay's debug log, which hosts it is
// connected to.
type connWatch struct {
	mu      sync.Mutex
	up      map[string]bool
	changed chan struct{} // closed and replaced on every change
}

func (c *connWatch) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.up = map[string]bool{}
	c.notifyLocked()
}

func (c *connWatch) notifyLocked() {
	if c.changed != nil {
		close(c.changed)
	}
	c.changed = make(chan struct{})
}

// missing returns the hosts not connected yet and a channel closed at the
// next change.
func (c *connWatch) missing(hosts []string) ([]string, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.changed == nil {
		c.notifyLocked()
	}
	var m []string
	for _, h := range hosts {
		if !c.up[h] {
			m = append(m, h)
		}
	}
	return m, c.changed
}

// onLogLine reads one JSON log line of the relay: the slurper logs "event
// subscription response" (debug) once its websocket to a host is open, and
// "host connection failed" or "dialing failed" when it is not.
func (c *connWatch) onLogLine(line string) {
	if !strings.Contains(line, `"host"`) {
		return
	}
	var l struct {
		Msg  string `json:"msg"`
		Host string `json:"host"`
	}
	if json.Unmarshal([]byte(line), &l) != nil || l.Host == "" {
		return
	}
	var up bool
	switch l.Msg {
	case "event subscription response":
		up = true
	case "host connection failed", "dialing failed":
		up = false
	default:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.up == nil {
		c.up = map[string]bool{}
	}
	c.up[l.Host] = up
	c.notifyLocked()
}

// RepoStatus asks the relay for an account (com.atproto.sync.getRepoStatus):
// whether it is active, its status when not (deactivated, throttled...) and
// the latest rev the relay has; ErrRepoNotFound when the relay does not
// know the DID.
func (r *Relay) RepoStatus(ctx context.Context, did string) (active bool, status, rev string, err error) {
	var out struct {
		Active bool   `json:"active"`
		Status string `json:"status"`
		Rev    string `json:"rev"`
	}
	code, name, err := r.query(ctx, "com.atproto.sync.getRepoStatus", url.Values{"did": {did}}, &out)
	if err != nil {
		if code == http.StatusNotFound && name == "RepoNotFound" {
			return false, "", "", fmt.Errorf("%w: %s", ErrRepoNotFound, did)
		}
		return false, "", "", err
	}
	return out.Active, out.Status, out.Rev, nil
}

type hostJSON struct {
	Hostname     string `json:"hostname"`
	Status       string `json:"status"`
	Seq          int64  `json:"seq"`
	AccountCount int64  `json:"accountCount"`
}

func (h hostJSON) host() RelayHost {
	return RelayHost{Hostname: h.Hostname, Status: h.Status, Seq: h.Seq, AccountCount: h.AccountCount}
}

// HostStatus asks the relay for one host (com.atproto.sync.getHostStatus,
// read from its database, so up to date); ErrHostNotFound when it has no
// such host.
func (r *Relay) HostStatus(ctx context.Context, hostname string) (RelayHost, error) {
	var out hostJSON
	code, name, err := r.query(ctx, "com.atproto.sync.getHostStatus", url.Values{"hostname": {hostname}}, &out)
	if err != nil {
		if code == http.StatusNotFound && name == "HostNotFound" {
			return RelayHost{}, fmt.Errorf("%w: %s", ErrHostNotFound, hostname)
		}
		return RelayHost{}, err
	}
	if out.Hostname == "" {
		out.Hostname = hostname
	}
	return out.host(), nil
}

// ListHosts lists the relay's hosts (com.atproto.sync.listHosts). The
// relay serves this list from a cache: a change shows 3-4 s later; use
// HostStatus for one host.
func (r *Relay) ListHosts(ctx context.Context) ([]RelayHost, error) {
	var hosts []RelayHost
	cursor := ""
	for {
		var out struct {
			Cursor string     `json:"cursor"`
			Hosts  []hostJSON `json:"hosts"`
		}
		q := url.Values{"limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		if _, _, err := r.query(ctx, "com.atproto.sync.listHosts", q, &out); err != nil {
			return nil, err
		}
		for _, h := range out.Hosts {
			hosts = append(hosts, h.host())
		}
		if out.Cursor == "" || out.Cursor == cursor || len(out.Hosts) == 0 {
			return hosts, nil
		}
		cursor = out.Cursor
	}
}

// WaitRepo polls RepoStatus until cond holds, ctx ends (30 s when ctx has
// no deadline) or the relay exits. An account the relay does not know yet
// is waited for; cond sees only accounts it knows.
func (r *Relay) WaitRepo(ctx context.Context, did string, cond func(active bool, status, rev string) bool) error {
	var last string
	return r.poll(ctx, "account "+did, func() (bool, error) {
		active, status, rev, err := r.RepoStatus(ctx, did)
		if errors.Is(err, ErrRepoNotFound) {
			last = "not found"
			return false, nil
		}
		if err != nil {
			return false, err
		}
		last = fmt.Sprintf("active=%v status=%q rev=%q", active, status, rev)
		return cond(active, status, rev), nil
	}, func() string { return last })
}

// WaitHost polls HostStatus until cond holds, ctx ends (30 s when ctx has
// no deadline) or the relay exits. A host the relay does not have is
// waited for.
func (r *Relay) WaitHost(ctx context.Context, hostname string, cond func(RelayHost) bool) error {
	var last string
	return r.poll(ctx, "host "+hostname, func() (bool, error) {
		h, err := r.HostStatus(ctx, hostname)
		if errors.Is(err, ErrHostNotFound) {
			last = "not found"
			return false, nil
		}
		if err != nil {
			return false, err
		}
		last = fmt.Sprintf("%+v", h)
		return cond(h), nil
	}, func() string { return last })
}

func (r *Relay) poll(ctx context.Context, what string, check func() (bool, error), last func() string) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, relayWaitTimeout)
		defer cancel()
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		ok, err := check()
		if ok {
			return nil
		}
		if err != nil && ctx.Err() == nil {
			if !r.Running() {
				return fmt.Errorf("localnet: %s is not running (waiting for %s): %w; log tail:\n%s", r.Name, what, err, r.LogTail())
			}
			// A transient error (a restart in progress): keep polling.
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("localnet: %s: waiting for %s: %w (last: %s)", r.Name, what, ctx.Err(), last())
		case <-tick.C:
		}
	}
}

// query makes an XRPC GET and decodes the JSON answer into out. On an
// error answer it returns the HTTP status and the XRPC error name too.
func (r *Relay) query(ctx context.Context, method string, q url.Values, out any) (code int, name string, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL+"/xrpc/"+method+"?"+q.Encode(), nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, "", fmt.Errorf("localnet: %s %s: %w", r.Name, method, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, "", fmt.Errorf("localnet: %s %s: %w", r.Name, method, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error   string `json:"error"`
			Message string `json:"message"`
		}
		_ = json.Unmarshal(b, &e)
		return resp.StatusCode, e.Error, fmt.Errorf("localnet: %s %s: HTTP %d %s: %s", r.Name, method, resp.StatusCode, e.Error, e.Message)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return resp.StatusCode, "", fmt.Errorf("localnet: %s %s: decode: %w", r.Name, method, err)
	}
	return resp.StatusCode, "", nil
}
