package repo

import "encoding/binary"

// maxRecordNesting bounds how deeply a record's arrays and maps may nest
// before it is fully decoded for blob refs. indigo's atdata decoder has no
// limit and costs about 4 kB of memory per level, so a 1 MB record of
// nested one-element arrays (which fuzzing found) would take 4 GB; real
// records nest a handful of levels (a post's embed and facets, under 10).
const maxRecordNesting = 128

// cborNestingWithin reports whether data is one well-formed definite-length
// CBOR item (what DAG-CBOR allows) whose arrays and maps nest at most
// limit deep. It reads only the item heads, allocating nothing beyond its
// stack of open containers, which the limit bounds; anything it cannot
// read is refused, as the strict decoder would refuse it.
func cborNestingWithin(data []byte, limit int) bool {
	var open []uint64 // items still expected in each open container
	for i := 0; i < len(data); {
		major, arg, n, ok := cborHead(data[i:])
		if !ok {
			return false
		}
		i += n
		switch major {
		case 2, 3: // byte and text strings: skip the content
			if arg > uint64(len(data)-i) {
				return false
			}
			i += int(arg)
		case 4, 5: // arrays and maps open a container
			if major == 5 {
				if arg > uint64(len(data)) {
					return false // more entries than bytes: cannot be complete
				}
				arg *= 2
			}
			if arg > 0 {
				if len(open) == limit {
					return false
				}
				open = append(open, arg)
				continue
			}
		case 6: // a tag applies to the item that follows
			continue
		}
		// One item is complete: close every container it completes.
		for {
			if len(open) == 0 {
				return i == len(data)
			}
			open[len(open)-1]--
			if open[len(open)-1] > 0 {
				break
			}
			open = open[:len(open)-1]
		}
	}
	return false
}

// cborHead reads an item head: its major type, its argument (a length, a
// count or a value) and the head's size. Indefinite lengths and reserved
// values are refused.
func cborHead(b []byte) (major byte, arg uint64, n int, ok bool) {
	major, info := b[0]>>5, b[0]&0x1f
	switch {
	case info < 24:
		return major, uint64(info), 1, true
	case info > 27:
		return 0, 0, 0, false
	}
	size := 1 << (info - 24) // 1, 2, 4 or 8 bytes follow
	if len(b) < 1+size {
		return 0, 0, 0, false
	}
	var buf [8]byte
	copy(buf[8-size:], b[1:1+size])
	return major, binary.BigEndian.Uint64(buf[:]), 1 + size, true
}
