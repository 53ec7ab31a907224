package diskuse

import (
	"errors"
	"io/fs"
	"path/filepath"
)

// Used adds up the disk space allocated to the files below dir. Files
// that vanish during the walk (a blob uploaded and deleted meanwhile)
// count for nothing; a dir that does not exist yet is 0.
func Used(dir string) (int64, error) {
	var n int64
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		fi, err := d.Info()
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		n += allocated(fi)
		return nil
	})
	return n, err
}

// OnDisk is what a file of n bytes takes on a file system of 4 KiB
// blocks: the unit the run's estimates count in, so that hundreds of small
// blobs do not overrun a window counted in bytes.
func OnDisk(n int64) int64 {
	const block = 4096
	if n <= 0 {
		return 0
	}
	return (n + block - 1) / block * block
}
