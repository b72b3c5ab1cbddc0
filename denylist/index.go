package denylist

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// Index is the in-memory form of a denylist: hash tables from digest to a
// packed (expires, cut-off) pair. It answers a Query with table look-ups
// and no allocation. It is safe for concurrent use.
//
// Times are packed as two uint32 Unix seconds (good until 2106), so an entry
// costs a 16-byte key, an 8-byte value and a control byte in a table sized
// at 7/8 load (index_table.go): about 29 bytes of heap per entry after a
// load, up to 36 as writes grow it.
//
// The maps are sharded by a digest byte, each shard with its own lock, so
// that checks on several cores do not contend on one lock's reader count,
// and a purge or a burst of writes holds up only the checks that fall in
// the shard it is working on, briefly.
type Index struct {
	shards [indexShards]indexShard
	// base and puts make the Index's generation (generation.go).
	base uint64
	puts atomic.Uint64
}

// indexShards is the number of shards: enough that writers and readers
// rarely meet, few enough that an empty Index stays small.
const indexShards = 64

type indexShard struct {
	mu sync.RWMutex
	t  digestTable
	_  [128 - 88]byte // two cache lines each (RWMutex 24 + table 64 bytes)
}

// shard returns the shard of digest d. Byte 0 is the kind (see Digest), so
// byte 1, uniformly distributed, picks the shard.
func (ix *Index) shard(d *Digest) *indexShard { return &ix.shards[shardOf(d)] }

// shardOf is the number of digest d's shard.
func shardOf(d *Digest) int { return int(d[1] % indexShards) }

type packed uint64

func pack(e Entry) packed {
	return packed(uint64(ClampU32(e.Expires))<<32 | uint64(ClampU32(e.Cutoff)))
}

// ClampU32 keeps a Unix time in what a uint32 holds: a negative time is 0
// (matches nothing later than the epoch), a time past 2106 is the largest.
func ClampU32(v int64) uint32 {
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
func NewIndex() *Index { return NewIndexSize(0) }

// NewIndexSize returns an empty Index with room for about n entries, so
// that loading n entries does not grow (and copy) its maps.
func NewIndexSize(n int) *Index {
	ix := &Index{base: indexBases.Add(1 << 40)}
	for i := range ix.shards {
		ix.shards[i].t = newDigestTable(n / indexShards)
	}
	return ix
}

// Put merges entries into the index. A large batch (a load's page) takes
// each shard's lock once.
func (ix *Index) Put(entries ...Entry) {
	defer ix.puts.Add(1) // after the entries are in: see Generational
	if len(entries) < 4*indexShards {
		for i := range entries {
			sh := ix.shard(&entries[i].Digest)
			sh.mu.Lock()
			sh.put(entries[i])
			sh.mu.Unlock()
		}
		return
	}
	// Counting sort of the entries' positions by shard.
	var start [indexShards + 1]int
	for i := range entries {
		start[shardOf(&entries[i].Digest)+1]++
	}
	for s := 1; s <= indexShards; s++ {
		start[s] += start[s-1]
	}
	order := make([]int32, len(entries))
	next := start
	for i := range entries {
		s := shardOf(&entries[i].Digest)
		order[next[s]] = int32(i)
		next[s]++
	}
	putShards := func(from, to int) {
		for s := from; s < to; s++ {
			if start[s] == start[s+1] {
				continue
			}
			sh := &ix.shards[s]
			sh.mu.Lock()
			for _, i := range order[start[s]:start[s+1]] {
				sh.put(entries[i])
			}
			sh.mu.Unlock()
		}
	}
	if len(entries) < putParallel || runtime.GOMAXPROCS(0) < 2 {
		putShards(0, indexShards)
		return
	}
	// A load's page: half the shards on another core (the table writes
	// are cache misses, which two cores wait for side by side).
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		putShards(indexShards/2, indexShards)
	}()
	putShards(0, indexShards/2)
	wg.Wait()
}

// putParallel is the batch size from which Put uses two goroutines.
const putParallel = 4096

// put merges e into the shard; its lock is held.
func (sh *indexShard) put(e Entry) {
	v, found := sh.t.upsert(&e.Digest)
	if found {
		e = e.Merge(v.entry(e.Key))
	}
	*v = pack(e)
}

// Delete removes the entries with these keys.
func (ix *Index) Delete(keys ...Key) {
	for _, k := range keys {
		sh := ix.shard(&k.Digest)
		sh.mu.Lock()
		sh.t.del(&k.Digest)
		sh.mu.Unlock()
	}
}

// Check answers q at Unix time now.
func (ix *Index) Check(q *Query, now int64) Match {
	for i := 0; i < q.N; i++ {
		k := &q.Keys[i]
		sh := ix.shard(&k.Digest)
		sh.mu.RLock()
		p, ok := sh.t.get(&k.Digest)
		sh.mu.RUnlock()
		if !ok {
			continue
		}
		if e := p.entry(*k); e.Matches(q.IssuedAt, now) {
			return Match{Revoked: true, Entry: e}
		}
	}
	return Match{}
}

// Get returns the live entry with this key, if any.
func (ix *Index) Get(k Key, now int64) (Entry, bool) {
	sh := ix.shard(&k.Digest)
	sh.mu.RLock()
	p, ok := sh.t.get(&k.Digest)
	sh.mu.RUnlock()
	if !ok || !p.entry(k).Live(now) {
		return Entry{}, false
	}
	return p.entry(k), true
}

// Purge removes the entries expired at now and returns how many it removed.
// It locks one shard at a time.
func (ix *Index) Purge(now int64) int {
	n := 0
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.Lock()
		n += sh.t.purge(func(p packed) bool { return p.expires() <= now })
		sh.mu.Unlock()
	}
	return n
}

// Len returns the number of entries held, live or not yet purged.
func (ix *Index) Len() int {
	n := 0
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.RLock()
		n += sh.t.live
		sh.mu.RUnlock()
	}
	return n
}

// Range calls fn for every entry held, live or not yet purged, until fn
// returns false. fn must not call back into the index. Entries written
// during the call may or may not be seen.
func (ix *Index) Range(fn func(Entry) bool) {
	for i := range ix.shards {
		sh := &ix.shards[i]
		sh.mu.RLock()
		more := true
		sh.t.each(func(d *Digest, p packed) bool {
			more = fn(p.entry(Key{Kind: d.Kind(), Digest: *d}))
			return more
		})
		sh.mu.RUnlock()
		if !more {
			return
		}
	}
}
