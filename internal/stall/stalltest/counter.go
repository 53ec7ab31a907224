package stalltest

import "sync/atomic"

// Counter counts requests.
type Counter struct{ n atomic.Int64 }

func (c *Counter) add() { c.n.Add(1) }

// Load is the count so far.
func (c *Counter) Load() int64 { return c.n.Load() }
