package plc

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/did-method-plc/go-didplc/didplc"
)

// DiffDoc renders the document fields an operation changes, for the user to
// read before anything is signed. Fields are grouped (alsoKnownAs,
// rotationKeys with their index, verificationMethods, services); each line
// is prefixed "  " (unchanged), "- " (removed) or "+ " (added). A nil before
// is an empty document.
func DiffDoc(before, after *didplc.RegularOp) string {
	return DiffDocLabeled(before, after, nil)
}

// DiffDocLabeled is DiffDoc with labels appended to known values, e.g.
// {"did:key:zQ3s...": "yours", "did:key:zQ3t...": "new PDS"}.
func DiffDocLabeled(before, after *didplc.RegularOp, labels map[string]string) string {
	if before == nil {
		before = &didplc.RegularOp{}
	}
	if after == nil {
		after = &didplc.RegularOp{}
	}
	label := func(v string) string {
		if l, ok := labels[v]; ok && l != "" {
			return v + " (" + l + ")"
		}
		return v
	}
	var b strings.Builder

	b.WriteString("alsoKnownAs:\n")
	for _, l := range diffLists(before.AlsoKnownAs, after.AlsoKnownAs) {
		fmt.Fprintf(&b, "%s%s\n", l.mark, label(l.value))
	}

	b.WriteString("rotationKeys:\n")
	for _, l := range diffLists(before.RotationKeys, after.RotationKeys) {
		switch {
		case l.mark == "- ":
			fmt.Fprintf(&b, "- [%d] %s\n", l.oldIdx, label(l.value))
		case l.mark == "+ ":
			fmt.Fprintf(&b, "+ [%d] %s\n", l.newIdx, label(l.value))
		case l.oldIdx != l.newIdx:
			fmt.Fprintf(&b, "  [%d] %s (was [%d])\n", l.newIdx, label(l.value), l.oldIdx)
		default:
			fmt.Fprintf(&b, "  [%d] %s\n", l.newIdx, label(l.value))
		}
	}

	b.WriteString("verificationMethods:\n")
	writeMapDiff(&b, before.VerificationMethods, after.VerificationMethods, label)

	b.WriteString("services:\n")
	svc := func(m map[string]didplc.OpService) map[string]string {
		out := make(map[string]string, len(m))
		for k, s := range m {
			out[k] = s.Endpoint + " (" + s.Type + ")"
		}
		return out
	}
	writeMapDiff(&b, svc(before.Services), svc(after.Services), label)
	return b.String()
}

func writeMapDiff(b *strings.Builder, before, after map[string]string, label func(string) string) {
	keys := slices.Sorted(maps.Keys(before))
	for k := range after {
		if _, ok := before[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		o, ook := before[k]
		n, nok := after[k]
		switch {
		case ook && nok && o == n:
			fmt.Fprintf(b, "  %s: %s\n", k, label(o))
		default:
			if ook {
				fmt.Fprintf(b, "- %s: %s\n", k, label(o))
			}
			if nok {
				fmt.Fprintf(b, "+ %s: %s\n", k, label(n))
			}
		}
	}
}

type diffLine struct {
	mark           string
	value          string
	oldIdx, newIdx int
}

// diffLists is an LCS diff of two short lists, so that a reordering shows as
// a remove and an add, and kept entries stay in place.
func diffLists(a, b []string) []diffLine {
	n, m := len(a), len(b)
	lcs := make([][]int, n+1)
	for i := range lcs {
		lcs[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if a[i] == b[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []diffLine
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && a[i] == b[j]:
			out = append(out, diffLine{"  ", a[i], i, j})
			i++
			j++
		case j < m && (i == n || lcs[i][j+1] > lcs[i+1][j]):
			out = append(out, diffLine{"+ ", b[j], -1, j})
			j++
		default:
			out = append(out, diffLine{"- ", a[i], i, -1})
			i++
		}
	}
	return out
}
