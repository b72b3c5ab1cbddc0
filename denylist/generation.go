package denylist

import "sync/atomic"

// Generational is a Store whose checks are answered from memory and that
// can say when what it holds may have changed: its Generation changes
// whenever an entry is added (a local revocation, an event applied, a
// reload), so a caller may remember a Check's "not revoked" answer for as
// long as the Generation stays the same. ok is false while no answer may
// be remembered (a mirror that is not fresh asks Redis, which other
// instances write without telling it). An entry expiring does not change
// it: a remembered "revoked" may outlive its entry, which costs the caller
// a check, never a miss.
type Generational interface {
	Generation() (gen uint64, ok bool)
}

// indexBases numbers the Indexes of the process: each Index's generations
// start at a base of its own, so an Index swapped for another (a mirror's
// reload) never repeats a generation the old one had.
var indexBases atomic.Uint64

// generation is the Index's: its base plus the number of puts so far.
func (ix *Index) generation() uint64 { return ix.base + ix.puts.Load() }

// Generation implements Generational: the embedded store answers every
// check from its Index.
func (s *EmbeddedStore) Generation() (uint64, bool) { return s.index.generation(), true }

// Generation implements Generational while the mirror is proven and fresh
// (its checks are then answered from memory alone).
func (m *MirrorStore) Generation() (uint64, bool) {
	ix := m.ix.Load()
	gen := ix.generation()
	if !m.proven.Load() {
		return 0, false
	}
	if _, fresh := m.Freshness(); !fresh {
		return 0, false
	}
	return gen, true
}

// Generation implements Generational when the open backend does.
func (r *Resilient) Generation() (uint64, bool) {
	if g, ok := r.Current().(Generational); ok {
		return g.Generation()
	}
	return 0, false
}
