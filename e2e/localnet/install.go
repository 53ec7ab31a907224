package localnet

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

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
// fills.
func NodeModulesDir() string {
	return filepath.Join(SourceDir(), "node_modules")
}

// EnsureInstalled checks that node and the Node packages the servers need
// are present, and says how to install them when they are not.
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
	if _, err := nodePath(); err != nil {
		return err
	}
	return nil
}

// nodePath finds the node binary; $LOCALNET_NODE overrides the PATH lookup.
func nodePath() (string, error) {
	if p := os.Getenv("LOCALNET_NODE"); p != "" {
		return p, nil
	}
	p, err := exec.LookPath("node")
	if err != nil {
		return "", fmt.Errorf("localnet: node not found in PATH (Node >= 18.7 is needed): %w", err)
	}
	return p, nil
}
