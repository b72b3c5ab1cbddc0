package engine

import (
	"sync"
	"sync/atomic"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// lengthFilter remembers which opaque-token lengths are marked revoked, for
// as long as the store's generation stays the same (see
// denylist.Generational); for a store without one it remembers nothing.
//
// What it knows of one generation is a lengthState that only ever gains
// bits, marked before known: a reader that sees a length known sees
// whether it is marked. A new generation gets a new state, swapped in
// whole, so a reader never sees one generation's bits half cleared.
type lengthFilter struct {
	mu     sync.Mutex // held to record
	words  int
	states atomic.Pointer[lengthState]
}

// lengthState is what is known of one generation: bit n of known says
// length n was asked, of marked that it is marked.
type lengthState struct {
	gen           uint64
	known, marked []atomic.Uint64
}

func newLengthFilter(maxLen int) *lengthFilter {
	return &lengthFilter{words: maxLen/64 + 1}
}

// lookup returns what is remembered of length n at generation gen.
func (f *lengthFilter) lookup(gen uint64, n int) (marked, known bool) {
	st := f.states.Load()
	w, bit := n/64, uint64(1)<<(n%64)
	if st == nil || st.gen != gen || w >= len(st.known) || st.known[w].Load()&bit == 0 {
		return false, false
	}
	return st.marked[w].Load()&bit != 0, true
}

// skippable fills set with the lengths known unmarked at generation gen.
func (f *lengthFilter) skippable(gen uint64, set *token.LengthSet) {
	st := f.states.Load()
	if st == nil || st.gen != gen {
		return
	}
	for i := 0; i < token.MaxSetLength/64 && i < len(st.known); i++ {
		k := st.known[i].Load() // known first: a known length's mark is already there
		set.SetWord(i, k&^st.marked[i].Load())
	}
}

// record remembers the answer for length n read at generation gen, unless
// a later generation has been seen meanwhile.
func (f *lengthFilter) record(gen uint64, n int, marked bool) {
	w, bit := n/64, uint64(1)<<(n%64)
	if w >= f.words {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	st := f.states.Load()
	switch {
	case st != nil && st.gen == gen:
	case st == nil || st.gen < gen || st.gen-gen > 1<<62: // a newer generation (or an Index swapped in)
		st = &lengthState{gen: gen, known: make([]atomic.Uint64, f.words), marked: make([]atomic.Uint64, f.words)}
		f.states.Store(st)
	default:
		return // what was read is older than what is remembered
	}
	if marked {
		st.marked[w].Or(bit)
	}
	st.known[w].Or(bit)
}
