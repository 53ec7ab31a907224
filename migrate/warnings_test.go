package migrate

import (
	"sync"

	"github.com/atmigrate/atmigrate/migrate/ui"
)

// warnings records what a run warns about.
type warnings struct {
	ui.NopProgress
	mu   sync.Mutex
	list []string
}

func (w *warnings) Warn(msg string) {
	w.mu.Lock()
	w.list = append(w.list, msg)
	w.mu.Unlock()
}
