package localnet

import "syscall"

// sysProcAttr puts the server in its own process group and has the kernel
// kill it when the test process dies, so no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
