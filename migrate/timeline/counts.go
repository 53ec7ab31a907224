package timeline

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Started is when the recording began: what its times count from.
func (r *Recorder) Started() time.Time { return r.start }

// Unstaged names the requests made while no stage ran.
const Unstaged = "(no stage)"

// RequestCounts is how many requests each stage sent to each party:
// stage → role → count, a request counting for the stage that most
// recently started and still ran when it was sent (Unstaged if none).
func (t *Timeline) RequestCounts() map[string]map[string]int {
	out := map[string]map[string]int{}
	for _, q := range t.Reqs {
		s := stageAt(t, q.Start)
		if s == "" {
			s = Unstaged
		}
		if out[s] == nil {
			out[s] = map[string]int{}
		}
		out[s][q.Role]++
	}
	return out
}

// WriteCounts prints counts (as RequestCounts gives them) as a table: one
// row per stage in order (stages not in order follow, by name), one column
// per role in roles (others follow), and totals.
func WriteCounts(w io.Writer, counts map[string]map[string]int, order, roles []string) error {
	var stages []string
	seen := map[string]bool{}
	for _, s := range order {
		if counts[s] != nil && !seen[s] {
			stages, seen[s] = append(stages, s), true
		}
	}
	var rest []string
	cols := append([]string(nil), roles...)
	for s, byRole := range counts {
		if !seen[s] {
			rest, seen[s] = append(rest, s), true
		}
		for r := range byRole {
			if !contains(cols, r) {
				cols = append(cols, r)
			}
		}
	}
	sort.Strings(rest)
	sort.Strings(cols[len(roles):])
	stages = append(stages, rest...)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\t"+strings.Join(cols, "\t")+"\ttotal\t")
	colSum := make([]int, len(cols))
	all := 0
	for _, s := range stages {
		row, sum := []string{s}, 0
		for i, c := range cols {
			n := counts[s][c]
			row, sum, colSum[i] = append(row, fmt.Sprint(n)), sum+n, colSum[i]+n
		}
		all += sum
		fmt.Fprintln(tw, strings.Join(row, "\t")+fmt.Sprintf("\t%d\t", sum))
	}
	row := []string{"total"}
	for _, n := range colSum {
		row = append(row, fmt.Sprint(n))
	}
	fmt.Fprintln(tw, strings.Join(row, "\t")+fmt.Sprintf("\t%d\t", all))
	return tw.Flush()
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}
