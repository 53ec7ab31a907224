package localnet

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// Options configures a network.
type Options struct {
	// Dir holds the servers' data, configs and logs (tests pass t.TempDir()).
	// Empty means a new temporary directory that Close removes.
	Dir string
	// InviteRequiredB makes PDS B require invite codes for createAccount.
	InviteRequiredB bool
	// RateLimitsB enables PDS B's rate limits. Requests with the header
	// x-ratelimit-bypass: <PDS.RateLimitBypassKey> are not limited; the
	// clients this package makes send it.
	RateLimitsB bool
	// VersionA and VersionB pick each PDS's reference version: "" or
	// Version04 ("0.4", @atproto/pds 0.4.217) or Version05 ("0.5",
	// @atproto/pds 0.5.35, run under Node 22). The PLC directory is the same
	// either way.
	VersionA, VersionB string
	// BlobUploadLimitA and BlobUploadLimitB set each PDS's blob upload
	// limit in bytes (PDS_BLOB_UPLOAD_LIMIT); 0 keeps the PDS's default,
	// 5 MiB. PDS 0.5.x reports it in describeServer, 0.4.x does not.
	BlobUploadLimitA, BlobUploadLimitB int64
	// DefaultImportLimitB makes PDS B keep the reference PDS's own repo
	// import limit: PDS_MAX_REPO_IMPORT_SIZE unset, so the import limit is
	// the blob upload limit (5 MiB by default), which no PDS reports.
	// Otherwise every PDS here takes imports up to 1 GiB, so that large
	// test repos move.
	DefaultImportLimitB bool
	// Stdout receives the servers' output, each line prefixed with the
	// server's name. Nil discards it; it is always kept in Dir/<name>.log.
	Stdout io.Writer
}

// Network is a running PLC directory and two PDSes, A and B.
type Network struct {
	// PLCURL is the PLC directory's URL, http://localhost:<port>.
	PLCURL string
	// A and B are the two PDSes. Both use PLCURL.
	A, B *PDS
	// Dir is the network's working directory.
	Dir string

	plc       *server
	stdout    io.Writer
	removeDir bool
	closeOnce sync.Once

	mu     sync.Mutex // guards relays
	relays []*Relay
}

// Start launches the PLC directory and both PDSes, each in its own Node
// process and all at once, and returns when all three answer. If one fails
// to start, the others are stopped and the error carries its log tail.
func Start(ctx context.Context, opts Options) (*Network, error) {
	if err := EnsureInstalled(); err != nil {
		return nil, err
	}
	verA, err := normVersion(opts.VersionA)
	if err != nil {
		return nil, err
	}
	verB, err := normVersion(opts.VersionB)
	if err != nil {
		return nil, err
	}
	for _, v := range []string{verA, verB} {
		if err := ensureVersion(v); err != nil {
			return nil, err
		}
	}
	n := &Network{Dir: opts.Dir, stdout: opts.Stdout}
	if n.Dir == "" {
		d, err := os.MkdirTemp("", "localnet-")
		if err != nil {
			return nil, fmt.Errorf("localnet: create work dir: %w", err)
		}
		n.Dir, n.removeDir = d, true
	}
	dir, err := filepath.Abs(n.Dir)
	if err != nil {
		return nil, fmt.Errorf("localnet: work dir: %w", err)
	}
	n.Dir = dir
	if err := os.MkdirAll(n.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("localnet: create work dir: %w", err)
	}

	// Every port is known before any server starts, so the PDSes can be given
	// the PLC URL and all three can boot in parallel.
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	n.PLCURL = fmt.Sprintf("http://localhost:%d", ports[0])
	n.A, err = newPDS("pds-a", verA, ports[1], n.PLCURL, n.Dir, false, false, opts.BlobUploadLimitA, false)
	if err != nil {
		return nil, err
	}
	n.B, err = newPDS("pds-b", verB, ports[2], n.PLCURL, n.Dir, opts.InviteRequiredB, opts.RateLimitsB, opts.BlobUploadLimitB, opts.DefaultImportLimitB)
	if err != nil {
		return nil, err
	}

	ok := false
	defer func() {
		if !ok {
			n.Close()
		}
	}()
	if n.plc, err = startServer("plc", Version04, n.Dir, opts.Stdout, "plc", fmt.Sprint(ports[0])); err != nil {
		return nil, err
	}
	for _, p := range []*PDS{n.A, n.B} {
		if p.srv, err = startServer(p.Name, p.Version, n.Dir, opts.Stdout, "pds", p.configPath); err != nil {
			return nil, err
		}
	}

	type result struct {
		name string
		info readyInfo
		err  error
	}
	servers := []*server{n.plc, n.A.srv, n.B.srv}
	results := make(chan result, len(servers))
	for _, s := range servers {
		go func() {
			info, err := s.waitReady(ctx)
			results <- result{s.name, info, err}
		}()
	}
	var errs []error
	for range servers {
		r := <-results
		if r.err != nil {
			errs = append(errs, r.err)
			continue
		}
		for _, p := range []*PDS{n.A, n.B} {
			if p.Name == r.name && (r.info.URL != p.URL || r.info.DID != p.DID) {
				errs = append(errs, fmt.Errorf("localnet: %s reports url %s did %s, want %s %s", p.Name, r.info.URL, r.info.DID, p.URL, p.DID))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	ok = true
	return n, nil
}

// PLCPid is the PLC directory's process ID, e.g. for measuring its CPU:
// its command line does not name the network's directory.
func (n *Network) PLCPid() int { return n.plc.cmd.Process.Pid }

// Close stops every server (SIGTERM, then SIGKILL after 5 s), the relays
// first, and, if Start made the work directory itself, removes it. It is
// safe to call twice.
func (n *Network) Close() {
	n.closeOnce.Do(func() {
		n.mu.Lock()
		relays := n.relays
		n.mu.Unlock()
		var wg sync.WaitGroup
		for _, r := range relays {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r.Close()
			}()
		}
		wg.Wait()
		for _, s := range []*server{n.plc, n.A.server(), n.B.server()} {
			if s == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				_ = s.stop() // shutting down: an unclean exit changes nothing
			}()
		}
		wg.Wait()
		if n.removeDir {
			_ = os.RemoveAll(n.Dir)
		}
	})
}

// newPDS prepares a PDS's keys, secrets, data directory and config file.
func newPDS(name, version string, port int, plcURL, workDir string, inviteRequired, rateLimits bool, blobLimit int64, defaultImportLimit bool) (*PDS, error) {
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return nil, fmt.Errorf("localnet: generate rotation key: %w", err)
	}
	pub, err := key.PublicKey()
	if err != nil {
		return nil, fmt.Errorf("localnet: rotation public key: %w", err)
	}
	p := &PDS{
		Name:                 name,
		Version:              version,
		PackageVersion:       pdsPackageVersion[version],
		URL:                  fmt.Sprintf("http://localhost:%d", port),
		DID:                  fmt.Sprintf("did:web:localhost%%3A%d", port),
		Port:                 port,
		PLCURL:               plcURL,
		AdminPassword:        randomHex(16),
		RotationKeyHex:       hex.EncodeToString(key.Bytes()),
		RotationKeyMultibase: key.Multibase(),
		RotationKeyDID:       pub.DIDKey(),
		InviteRequired:       inviteRequired,
		RateLimited:          rateLimits,
		DataDir:              filepath.Join(workDir, name),
		LogPath:              filepath.Join(workDir, name+".log"),
		configPath:           filepath.Join(workDir, name+".json"),
	}
	if rateLimits {
		p.RateLimitBypassKey = randomHex(16)
	}
	if err := os.MkdirAll(p.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("localnet: create %s data dir: %w", name, err)
	}
	cfg := map[string]any{
		"port":               port,
		"pdsVersion":         pdsPackageVersion[version],
		"plcUrl":             plcURL,
		"dataDir":            p.DataDir,
		"rotationKeyHex":     p.RotationKeyHex,
		"adminPassword":      p.AdminPassword,
		"jwtSecret":          randomHex(32),
		"inviteRequired":     inviteRequired,
		"rateLimitsEnabled":  rateLimits,
		"rateLimitBypassKey": p.RateLimitBypassKey,
	}
	extra := map[string]any{}
	if blobLimit > 0 {
		extra["blobUploadLimit"] = blobLimit
	}
	if defaultImportLimit {
		// null overrides server.js's 1 GiB; the PDS's importRepo then
		// falls back to its upload limit, as with the variable unset.
		extra["maxImportSize"] = nil
	}
	if len(extra) > 0 {
		cfg["extra"] = extra
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("localnet: encode %s config: %w", name, err)
	}
	// The config holds secrets: owner-only, like a key file.
	if err := os.WriteFile(p.configPath, b, 0o600); err != nil {
		return nil, fmt.Errorf("localnet: write %s config: %w", name, err)
	}
	return p, nil
}

// freePorts picks n distinct free loopback ports. All listeners stay open
// until every port is chosen, so the kernel cannot hand out one twice.
func freePorts(n int) ([]int, error) {
	var ports []int
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("localnet: pick free port: %w", err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func randomHex(nbytes int) string {
	b := make([]byte, nbytes)
	if _, err := rand.Read(b); err != nil {
		panic("localnet: crypto/rand: " + err.Error()) // never fails on Linux
	}
	return hex.EncodeToString(b)
}
