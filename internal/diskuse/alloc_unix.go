//go:build unix

package diskuse

import (
	"io/fs"
	"syscall"
)

// allocated is the space the file system gave fi: its blocks, which is
// what `df` sees (a sparse or page-rounded file differs from its size).
func allocated(fi fs.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return OnDisk(fi.Size())
}
