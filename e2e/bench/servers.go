package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/atmigrate/atmigrate/e2e/localnet"
)

// The PDS versions differ in how much CPU a move costs them, so a table is
// only worth quoting with the versions it was measured on: the bench picks
// them from BENCH_PDS and records, for each PDS, what it actually ran.

// pdsVersions parses BENCH_PDS: empty or one version is B's (A stays on
// localnet.Version04, the pinned default); two, comma separated, are A's and
// B's. Only the reference versions the local network runs are accepted.
func pdsVersions(env string) (a, b string, err error) {
	env = strings.TrimSpace(env)
	if env == "" {
		return localnet.Version04, localnet.Version04, nil
	}
	toks := strings.Split(env, ",")
	if len(toks) > 2 {
		return "", "", fmt.Errorf("BENCH_PDS=%q: want B's version or A,B (%s or %s)", env, localnet.Version04, localnet.Version05)
	}
	for i, t := range toks {
		toks[i] = strings.TrimSpace(t)
		if toks[i] != localnet.Version04 && toks[i] != localnet.Version05 {
			return "", "", fmt.Errorf("BENCH_PDS=%q: unknown PDS version %q (%s or %s)", env, toks[i], localnet.Version04, localnet.Version05)
		}
	}
	if len(toks) == 1 {
		return localnet.Version04, toks[0], nil
	}
	return toks[0], toks[1], nil
}

// Servers is what the results were measured on.
type Servers struct {
	A PDSInfo `json:"pdsA"`
	B PDSInfo `json:"pdsB"`
}

// PDSInfo is one PDS as it ran.
type PDSInfo struct {
	// Package is the exact @atproto/pds version, checked against the
	// package.json the server loads and against its /xrpc/_health.
	Package string `json:"package"`
	// Health is the version /xrpc/_health reported ("0.5.35-localnet").
	Health string `json:"health"`
	// Node is the version of the Node binary the server process runs.
	Node string `json:"node"`
}

func (p PDSInfo) String() string {
	s := "@atproto/pds " + p.Package
	if p.Node != "" {
		s += " (Node " + p.Node + ")"
	}
	return s
}

// serversLine is the report header's line naming the servers.
func serversLine(s Servers) string {
	return fmt.Sprintf("servers: PDS A %s, PDS B %s", s.A, s.B)
}

// describeServers reads what each PDS of net runs. A package or health
// version that is not the one localnet pins is an error: the results would
// name servers they were not measured on.
func describeServers(ctx context.Context, net *localnet.Network) (Servers, error) {
	var s Servers
	for _, x := range []struct {
		p   *localnet.PDS
		out *PDSInfo
	}{{net.A, &s.A}, {net.B, &s.B}} {
		info := PDSInfo{Package: x.p.PackageVersion}
		installed, err := installedPackage(x.p.Version)
		if err != nil {
			return s, fmt.Errorf("%s: %w", x.p.Name, err)
		}
		if installed != x.p.PackageVersion {
			return s, fmt.Errorf("%s: @atproto/pds %s is installed, localnet pins %s: run `make localnet-install`", x.p.Name, installed, x.p.PackageVersion)
		}
		if info.Health, err = healthVersion(ctx, x.p.URL); err != nil {
			return s, fmt.Errorf("%s: %w", x.p.Name, err)
		}
		if !strings.HasPrefix(info.Health, x.p.PackageVersion) {
			return s, fmt.Errorf("%s: /xrpc/_health says version %q, want %s", x.p.Name, info.Health, x.p.PackageVersion)
		}
		// The Node version is a label, not a check: without it the
		// results still name the package.
		info.Node = serverNode(net.Dir, x.p.Name+".json")
		*x.out = info
	}
	return s, nil
}

// installedPackage is the version in the package.json of the @atproto/pds
// that server.js loads for a reference version (0.4 from the network's own
// node_modules, 0.5 from pds05/).
func installedPackage(version string) (string, error) {
	nm := localnet.NodeModulesDir()
	if version == localnet.Version05 {
		nm = filepath.Join(localnet.PDS05Dir(), "node_modules")
	}
	b, err := os.ReadFile(filepath.Join(nm, "@atproto", "pds", "package.json"))
	if err != nil {
		return "", err
	}
	var pkg struct{ Version string }
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("@atproto/pds package.json: %w", err)
	}
	return pkg.Version, nil
}

func healthVersion(ctx context.Context, url string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/xrpc/_health", nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("_health: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("_health: HTTP %d", resp.StatusCode)
	}
	var h struct{ Version string }
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return "", fmt.Errorf("_health: %w", err)
	}
	return h.Version, nil
}

// serverNode is `node --version` of the executable of the network's process
// whose command line names config (each PDS is started as `node server.js
// pds <dir>/<name>.json`), or "" when it cannot be told. Asking the process
// itself, rather than guessing which Node localnet picks, also covers
// LOCALNET_NODE and LOCALNET_NODE22.
func serverNode(netDir, config string) string {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), filepath.Join(netDir, config)) {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe"))
		if err != nil {
			return ""
		}
		out, err := exec.Command(exe, "--version").Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	return ""
}
