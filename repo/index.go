package repo

import (
	"bytes"
	"slices"
	"sort"
)

// blockIndex maps the SHA-256 digests of blocks to a small value: what
// VerifyCAR keeps of each block while the CAR streams, in 32 bytes and
// the value's size (where a map of CIDs and node bytes cost about 200).
//
// Entries are appended to fixed-size chunks, so the index never copies
// or frees an array as it grows: no garbage, no fragmentation, at most one
// chunk of slack. finish sorts them in place, first into buckets by their
// first 12 bits (counted as they came, then moved with an American flag
// sort, in O(n)), then each bucket by digest; get is a binary search in
// one bucket. A hostile CAR that crowds one bucket only makes that
// bucket's sort and search O(n log n) and O(log n): nothing degrades to
// quadratic.
type blockIndex[V any] struct {
	chunks [][]indexEntry[V]
	n      int
	// counts[b] is the number of entries in bucket b while adding; after
	// finish, bucket b holds the entries starts[b] to starts[b+1]-1.
	counts []int
	starts []int
}

type indexEntry[V any] struct {
	d digest
	v V
}

const (
	indexBuckets  = 1 << 12
	indexChunkLen = 1 << 10
)

func newBlockIndex[V any]() *blockIndex[V] {
	return &blockIndex[V]{counts: make([]int, indexBuckets)}
}

func bucketOf(d *digest) int { return int(d[0])<<4 | int(d[1]>>4) }

func (x *blockIndex[V]) at(i int) *indexEntry[V] {
	return &x.chunks[i/indexChunkLen][i%indexChunkLen]
}

// add records a block. A digest added twice (the same bytes, so the same
// value) is found either way, and each visits it once.
func (x *blockIndex[V]) add(d digest, v V) {
	if x.n == len(x.chunks)*indexChunkLen {
		x.chunks = append(x.chunks, make([]indexEntry[V], indexChunkLen))
	}
	*x.at(x.n) = indexEntry[V]{d: d, v: v}
	x.n++
	x.counts[bucketOf(&d)]++
}

// finish sorts the entries by digest. No add may follow.
func (x *blockIndex[V]) finish() {
	x.starts = make([]int, indexBuckets+1)
	for b, c := range x.counts {
		x.starts[b+1] = x.starts[b] + c
	}
	next := x.counts // reused as each bucket's next free place
	copy(next, x.starts)
	for b := range indexBuckets {
		for next[b] < x.starts[b+1] {
			e := x.at(next[b])
			tb := bucketOf(&e.d)
			if tb == b {
				next[b]++
				continue
			}
			o := x.at(next[tb])
			*e, *o = *o, *e
			next[tb]++
		}
	}
	x.counts = nil
	var scratch []indexEntry[V]
	for b := range indexBuckets {
		lo, hi := x.starts[b], x.starts[b+1]
		scratch = scratch[:0]
		for i := lo; i < hi; i++ {
			scratch = append(scratch, *x.at(i))
		}
		slices.SortFunc(scratch, func(a, b indexEntry[V]) int { return bytes.Compare(a.d[:], b.d[:]) })
		for i, e := range scratch {
			*x.at(lo + i) = e
		}
	}
}

// get returns the value of the block with digest d, once finished.
func (x *blockIndex[V]) get(d digest) (V, bool) {
	b := bucketOf(&d)
	lo, hi := x.starts[b], x.starts[b+1]
	i := lo + sort.Search(hi-lo, func(i int) bool { return bytes.Compare(x.at(lo + i).d[:], d[:]) >= 0 })
	if i < hi && x.at(i).d == d {
		return x.at(i).v, true
	}
	var zero V
	return zero, false
}

// has tells whether the block with digest d was added, once finished.
func (x *blockIndex[V]) has(d digest) bool {
	_, ok := x.get(d)
	return ok
}

// each calls fn with the value of every digest added, once each, once
// finished.
func (x *blockIndex[V]) each(fn func(v V)) {
	for i := range x.n {
		if i > 0 && x.at(i-1).d == x.at(i).d {
			continue
		}
		fn(x.at(i).v)
	}
}
