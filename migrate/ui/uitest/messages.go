// Package uitest holds what tests of the core need of ui: a Progress that
// keeps the messages a run reports, to check what it told the user.
package uitest

import (
	"slices"
	"strings"
	"sync"

	"github.com/atmigrate/atmigrate/migrate/ui"
)

// Messages is a ui.Progress that keeps every Info and Warn, in order; the
// rest it ignores. It is safe for the concurrent reports of a run.
type Messages struct {
	ui.NopProgress
	mu    sync.Mutex
	infos []string
	warns []string
}

func (m *Messages) Info(msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.infos = append(m.infos, msg)
}

func (m *Messages) Warn(msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.warns = append(m.warns, msg)
}

// Infos is every Info so far.
func (m *Messages) Infos() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.infos)
}

// Warnings is every Warn so far.
func (m *Messages) Warnings() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.warns)
}

// Said reports whether an Info contains s.
func (m *Messages) Said(s string) bool { return containing(m.Infos(), s) }

// Warned reports whether a Warn contains s.
func (m *Messages) Warned(s string) bool { return containing(m.Warnings(), s) }

func containing(msgs []string, s string) bool {
	return slices.ContainsFunc(msgs, func(m string) bool { return strings.Contains(m, s) })
}
