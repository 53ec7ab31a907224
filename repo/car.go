package repo

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	"github.com/multiformats/go-multihash"
)

// maxBlockSize bounds a single CAR section. Records are capped at 1 MiB by
// the protocol and MST nodes are far smaller; the limit only stops a corrupt
// length prefix from making us allocate gigabytes.
const maxBlockSize = 8 << 20

// maxHeaderSize bounds the CAR header, which go-car allocates whole from
// its length prefix before decoding it. An atproto header is one root CID
// and a version, under 100 bytes; go-car's own default is 32 MiB.
const maxHeaderSize = 64 << 10

// digest is the SHA-256 of a dag-cbor block: the compact key for record and
// MST node sets (a cid.Cid would cost a string header plus 36 bytes).
type digest [32]byte

// repoDigest returns the SHA-256 digest of c if c is a CIDv1 dag-cbor
// sha2-256 CID, the only kind atproto uses for repo blocks. It reads the
// CID's binary form directly, so it does not allocate.
func repoDigest(c cid.Cid) (digest, bool) {
	var d digest
	s := c.KeyString()
	// 0x01 version, 0x71 dag-cbor, 0x12 sha2-256, 0x20 32-byte digest
	if len(s) != 36 || s[0] != 0x01 || s[1] != 0x71 || s[2] != 0x12 || s[3] != 0x20 {
		return d, false
	}
	copy(d[:], s[4:])
	return d, true
}

// countingReader counts the bytes read from the CAR source.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// posReader counts the bytes the CAR reader has taken: the offset in the
// CAR of what it reads next. The CAR reader reads section headers a byte at
// a time (through ReadByte, here) and never ahead, so after a block's data
// is read, pos minus its length is where that data starts.
type posReader struct {
	r   *bufio.Reader
	pos int64
}

func (p *posReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.pos += int64(n)
	return n, err
}

func (p *posReader) ReadByte() (byte, error) {
	b, err := p.r.ReadByte()
	if err == nil {
		p.pos++
	}
	return b, err
}

// blockIter walks the sections of a CAR stream, checking each block's hash
// itself (rather than through BlockReader.Next) so that a mismatch can name
// the block, and reusing one buffer so that reading a large CAR does not
// allocate per block.
type blockIter struct {
	src *countingReader
	at  *posReader
	br  *carv2.BlockReader
	buf []byte
	// minBuf is the least buf grows to (64 KB for a stream: one
	// allocation for most repos' largest block).
	minBuf uint64
	Roots  []cid.Cid
}

func newBlockIter(r io.Reader) (*blockIter, error) {
	it, err := openBlocks(r, streamBuffer)
	if err != nil {
		return nil, err
	}
	if len(it.Roots) == 0 {
		return nil, verifyErr(nil, "CAR has no root")
	}
	return it, nil
}

// streamBuffer is the read buffer for a CAR streamed from a file or a
// server: large reads, few system calls.
const streamBuffer = 256 << 10

// openBlocks is newBlockIter for a CAR that need not name a root: a
// sync.getBlocks answer (the reference PDS sends it with no roots). bufSize
// is its read buffer: streamBuffer for a stream, the CAR's own length for
// one in memory (a commit block of a few hundred bytes, read several times
// a run, need not cost 320 KB of buffers each time).
func openBlocks(r io.Reader, bufSize int) (*blockIter, error) {
	src := &countingReader{r: r}
	at := &posReader{r: bufio.NewReaderSize(src, bufSize)}
	br, err := carv2.NewBlockReader(at,
		carv2.MaxAllowedHeaderSize(maxHeaderSize), carv2.MaxAllowedSectionSize(maxBlockSize))
	if err != nil {
		return nil, readErr(err, "read CAR header")
	}
	return &blockIter{src: src, at: at, br: br, Roots: br.Roots, minBuf: uint64(min(bufSize, 64<<10))}, nil
}

// next returns the next block. The data slice is only valid until the next
// call. It returns io.EOF at the clean end of the CAR and a *VerifyError for
// anything else.
func (it *blockIter) next() (cid.Cid, []byte, error) {
	c, rd, n, err := it.br.NextReader()
	if err == io.EOF {
		return cid.Undef, nil, io.EOF
	}
	if err != nil {
		return cid.Undef, nil, readErr(err, "read CAR section")
	}
	if n > maxBlockSize {
		return cid.Undef, nil, verifyErr(nil, fmt.Sprintf("block %s: %d bytes exceeds the %d byte limit", c, n, maxBlockSize))
	}
	if uint64(cap(it.buf)) < n {
		it.buf = make([]byte, n, max(n, it.minBuf))
	}
	data := it.buf[:n]
	if _, err := io.ReadFull(rd, data); err != nil {
		return cid.Undef, nil, readErr(err, fmt.Sprintf("read block %s", c))
	}
	if err := checkBlockHash(c, data); err != nil {
		return cid.Undef, nil, err
	}
	return c, data, nil
}

// offset is where the data of the block next returned last starts in the
// CAR.
func (it *blockIter) offset(data []byte) int64 { return it.at.pos - int64(len(data)) }

// bytesRead is the number of bytes consumed from the source so far.
func (it *blockIter) bytesRead() int64 { return it.src.n }

// readErr turns a read failure into a VerifyError, calling any end-of-input
// inside a header or section a truncated CAR.
func readErr(err error, what string) error {
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return verifyErr(err, "truncated CAR")
	}
	return verifyErr(err, what)
}

// checkBlockHash verifies that data hashes to c, using c's own hash function.
func checkBlockHash(c cid.Cid, data []byte) error {
	if d, ok := repoDigest(c); ok {
		if sha256.Sum256(data) != d {
			return verifyErr(nil, fmt.Sprintf("block %s: hash mismatch", c))
		}
		return nil
	}
	got, err := c.Prefix().Sum(data)
	if err != nil {
		return verifyErr(err, fmt.Sprintf("block %s: unsupported hash", c))
	}
	if !got.Equals(c) {
		return verifyErr(nil, fmt.Sprintf("block %s: hash mismatch", c))
	}
	return nil
}

// digestMatches reports whether sum (a full hash output) matches the digest
// in multihash m, which may be truncated.
func digestMatches(m multihash.Multihash, sum []byte) (bool, error) {
	dm, err := multihash.Decode(m)
	if err != nil {
		return false, err
	}
	if dm.Length > len(sum) && dm.Code != multihash.IDENTITY {
		return false, fmt.Errorf("multihash length %d exceeds hash size %d", dm.Length, len(sum))
	}
	if dm.Code == multihash.IDENTITY {
		return bytes.Equal(dm.Digest, sum), nil
	}
	return bytes.Equal(dm.Digest, sum[:dm.Length]), nil
}
