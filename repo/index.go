package repo

import (
	"bytes"
	"slices"
)

// blockIndex maps the SHA-256 digests of blocks to a small value: what
// VerifyCAR keeps of each block while the CAR streams, in 32 bytes and
// the value's size (36 for a record or an MST node's place in the CAR,
// where a map of CIDs and node bytes cost about 200). Entries go into one
// of indexBuckets buckets by their first 12 bits, each an append-only
// slice grown by an eighth at a time (little slack, and no large array is
// ever copied); finish sorts each bucket and drops duplicates, and get is
// a binary search in one bucket. A hostile CAR that crowds one bucket only
// makes that bucket's sort and search O(n log n) and O(log n): nothing
// degrades to quadratic.
type blockIndex[V any] struct {
	buckets [][]indexEntry[V]
}

type indexEntry[V any] struct {
	d digest
	v V
}

const indexBuckets = 1 << 12

func newBlockIndex[V any]() *blockIndex[V] {
	return &blockIndex[V]{buckets: make([][]indexEntry[V], indexBuckets)}
}

func bucketOf(d *digest) int { return int(d[0])<<4 | int(d[1]>>4) }

// add records a block. A digest added twice (the same bytes, so the same
// value) keeps one entry once finished.
func (x *blockIndex[V]) add(d digest, v V) {
	i := bucketOf(&d)
	b := x.buckets[i]
	if len(b) == cap(b) {
		nb := make([]indexEntry[V], len(b), len(b)+len(b)/8+16)
		copy(nb, b)
		b = nb
	}
	x.buckets[i] = append(b, indexEntry[V]{d: d, v: v})
}

// finish sorts the buckets and keeps one entry of each digest. No add may
// follow.
func (x *blockIndex[V]) finish() {
	for i, b := range x.buckets {
		slices.SortFunc(b, func(a, b indexEntry[V]) int { return bytes.Compare(a.d[:], b.d[:]) })
		x.buckets[i] = slices.CompactFunc(b, func(a, b indexEntry[V]) bool { return a.d == b.d })
	}
}

// get returns the value of the block with digest d, once finished.
func (x *blockIndex[V]) get(d digest) (V, bool) {
	b := x.buckets[bucketOf(&d)]
	i, ok := slices.BinarySearchFunc(b, d, func(e indexEntry[V], d digest) int { return bytes.Compare(e.d[:], d[:]) })
	if !ok {
		var zero V
		return zero, false
	}
	return b[i].v, true
}

// has tells whether the block with digest d was added, once finished.
func (x *blockIndex[V]) has(d digest) bool {
	_, ok := x.get(d)
	return ok
}

// each calls fn with every entry's value, once finished.
func (x *blockIndex[V]) each(fn func(v V)) {
	for _, b := range x.buckets {
		for _, e := range b {
			fn(e.v)
		}
	}
}
