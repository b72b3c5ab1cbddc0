package denylist

import (
	"sort"
	"sync"
)

// Index is the in-memory form of a denylist: a map from digest to a packed
// (expires, cut-off) pair. It answers a Query with map look-ups and no
// allocation. It is safe for concurrent use.
//
// Times are packed as two uint32 Unix seconds (good until 2106), so an entry
// costs a 16-byte key and an 8-byte value in the map.
type Index struct {
	mu sync.RWMutex
	m  map[Digest]packed
}

type packed uint64

func pack(e Entry) packed {
	return packed(uint64(clampU32(e.Expires))<<32 | uint64(clampU32(e.Cutoff)))
}

// clampU32 keeps a Unix time in what a uint32 holds: a negative time is 0
// (matches nothing later than the epoch), a time past 2106 is the largest.
func clampU32(v int64) uint32 {
	switch {
	case v < 0:
		return 0
	case v > int64(^uint32(0)):
		return ^uint32(0)
	}
	return uint32(v)
}

func (p packed) expires() int64 { return int64(p >> 32) }
func (p packed) cutoff() int64  { return int64(uint32(p)) }

func (p packed) entry(k Key) Entry {
	return Entry{Key: k, Expires: p.expires(), Cutoff: p.cutoff()}
}

// NewIndex returns an empty Index.
func NewIndex() *Index { return &Index{m: make(map[Digest]packed)} }

// Put merges entries into the index.
func (ix *Index) Put(entries ...Entry) {
	ix.mu.Lock()
	for _, e := range entries {
		if old, ok := ix.m[e.Digest]; ok {
			e = e.Merge(old.entry(e.Key))
		}
		ix.m[e.Digest] = pack(e)
	}
	ix.mu.Unlock()
}

// Delete removes the entries with these keys.
func (ix *Index) Delete(keys ...Key) {
	ix.mu.Lock()
	for _, k := range keys {
		delete(ix.m, k.Digest)
	}
	ix.mu.Unlock()
}

// Check answers q at Unix time now.
func (ix *Index) Check(q *Query, now int64) Match {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for i := 0; i < q.N; i++ {
		p, ok := ix.m[q.Keys[i].Digest]
		if !ok {
			continue
		}
		if e := p.entry(q.Keys[i]); e.Matches(q.IssuedAt, now) {
			return Match{Revoked: true, Entry: e}
		}
	}
	return Match{}
}

// Get returns the live entry with this key, if any.
func (ix *Index) Get(k Key, now int64) (Entry, bool) {
	ix.mu.RLock()
	p, ok := ix.m[k.Digest]
	ix.mu.RUnlock()
	if !ok || !p.entry(k).Live(now) {
		return Entry{}, false
	}
	return p.entry(k), true
}

// Purge removes the entries expired at now and returns how many it removed.
func (ix *Index) Purge(now int64) int {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	n := 0
	for d, p := range ix.m {
		if p.expires() <= now {
			delete(ix.m, d)
			n++
		}
	}
	return n
}

// Len returns the number of entries held, live or not yet purged.
func (ix *Index) Len() int {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	return len(ix.m)
}

// Range calls fn for every entry held, live or not yet purged, until fn
// returns false. fn must not call back into the index.
func (ix *Index) Range(fn func(Entry) bool) {
	ix.mu.RLock()
	defer ix.mu.RUnlock()
	for d, p := range ix.m {
		if !fn(p.entry(Key{Kind: d.Kind(), Digest: d})) {
			return
		}
	}
}

// Digests returns every digest held, sorted, for paging.
func (ix *Index) Digests() []Digest {
	ix.mu.RLock()
	out := make([]Digest, 0, len(ix.m))
	for d := range ix.m {
		out = append(out, d)
	}
	ix.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return string(out[i][:]) < string(out[j][:]) })
	return out
}
