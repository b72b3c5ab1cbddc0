package denylist

import (
	"sync/atomic"
	"time"
)

// indexBases numbers the Indexes of the process: each Index's generations
// start at a base of its own, so an Index swapped for another (a mirror's
// reload) never repeats a generation the old one had.
var indexBases atomic.Uint64

// Generation is the Index's generation: its base plus the number of
// puts so far (see Generational).
func (ix *Index) Generation() uint64 { return ix.base + ix.puts.Load() }

// Generation implements Generational when the open backend does.
func (r *Resilient) Generation(now time.Time) (uint64, bool) {
	if g, ok := r.Current().(Generational); ok {
		return g.Generation(now)
	}
	return 0, false
}
