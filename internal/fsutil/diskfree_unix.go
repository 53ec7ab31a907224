//go:build unix

package fsutil

import "syscall"

// FreeBytes is the space an unprivileged writer can still use on the
// filesystem holding dir.
func FreeBytes(dir string) (int64, bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return int64(st.Bavail) * int64(st.Bsize), true
}
