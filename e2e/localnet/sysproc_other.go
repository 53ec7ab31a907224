//go:build !linux

package localnet

import "syscall"

// sysProcAttr puts the server in its own process group. Without Pdeathsig
// outside Linux, the closing stdin pipe is what stops an orphaned server.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
