package fsutil

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is a file holding more than its reader's limit.
var ErrTooLarge = errors.New("larger than expected")

// ReadUpTo reads the file at path whole, unless it holds more than limit
// bytes: then it fails with an error wrapping ErrTooLarge that gives the
// limit (and the size, when the file system knows it), having read at
// most limit+1 bytes. A path mistyped onto a large file or a device
// (/dev/zero) costs that much, not all the memory.
func ReadUpTo(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() && fi.Size() > limit {
		return nil, fmt.Errorf("%w: %d bytes, over the limit of %d", ErrTooLarge, fi.Size(), limit)
	}
	// A file growing meanwhile, or a device, is read no further than this.
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return b, nil
}
