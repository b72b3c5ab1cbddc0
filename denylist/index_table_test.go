package denylist

import (
	"math/rand/v2"
	"testing"
	"unsafe"
)

// TestDigestTableAgainstMap runs random puts, deletes and purges on a
// digestTable and on a Go map, from an empty table and from a presized
// one, and compares them after every step.
func TestDigestTableAgainstMap(t *testing.T) {
	for _, presize := range []int{0, 500} {
		r := rand.New(rand.NewPCG(1, uint64(presize)))
		tab := newDigestTable(presize)
		model := map[Digest]packed{}
		var keys []Digest
		digest := func() Digest {
			if len(keys) > 0 && r.IntN(3) == 0 {
				return keys[r.IntN(len(keys))]
			}
			var d Digest
			d[0] = byte(KindToken)
			for i := 1; i < DigestSize; i++ {
				d[i] = byte(r.UintN(256))
			}
			if r.IntN(4) == 0 { // crowd a few groups: same position bytes
				copy(d[8:], []byte{1, 2, 3, 4, 5, 6, 7, 8})
			}
			keys = append(keys, d)
			return d
		}
		for step := range 20000 {
			d := digest()
			switch op := r.IntN(10); {
			case op < 6:
				p := packed(r.Uint64())
				tab.put(&d, p)
				model[d] = p
			case op < 9:
				tab.del(&d)
				delete(model, d)
			default:
				limit := packed(r.Uint64())
				n := tab.purge(func(p packed) bool { return p < limit })
				m := 0
				for k, p := range model {
					if p < limit {
						delete(model, k)
						m++
					}
				}
				if n != m {
					t.Fatalf("step %d: purge removed %d, want %d", step, n, m)
				}
			}
			if tab.live != len(model) {
				t.Fatalf("step %d: %d entries, want %d", step, tab.live, len(model))
			}
			if p, ok := tab.get(&d); ok != (model[d] == p && func() bool { _, in := model[d]; return in }()) {
				t.Fatalf("step %d: get = %v %v, model %v", step, p, ok, model[d])
			}
		}
		for k, p := range model {
			if got, ok := tab.get(&k); !ok || got != p {
				t.Fatalf("presize %d: %x = %v %v, want %v", presize, k, got, ok, p)
			}
		}
		seen := 0
		tab.each(func(d *Digest, p packed) bool {
			if model[*d] != p {
				t.Fatalf("each: %x = %v, want %v", *d, p, model[*d])
			}
			seen++
			return true
		})
		if seen != len(model) {
			t.Fatalf("each saw %d, want %d", seen, len(model))
		}
	}
	if s := unsafe.Sizeof(indexShard{}); s != 128 {
		t.Errorf("indexShard is %d bytes, want 128 (two cache lines)", s)
	}
}

// TestIndexPutBatch: a batch large enough to be put shard by shard holds
// what putting its entries one by one holds, merges included.
func TestIndexPutBatch(t *testing.T) {
	es := benchEntries(6000)
	for i := range es[:1000] { // later cut-offs and expiries of the first 1000
		e := es[i]
		e.Cutoff, e.Expires = e.Cutoff+7, e.Expires-7
		es = append(es, e)
	}
	one, batch := NewIndex(), NewIndex()
	for _, e := range es {
		one.Put(e)
	}
	batch.Put(es...)
	if one.Len() != 6000 || batch.Len() != 6000 {
		t.Fatalf("%d and %d entries, want 6000", one.Len(), batch.Len())
	}
	one.Range(func(e Entry) bool {
		if got, ok := batch.Get(e.Key, t0); !ok || got != e {
			t.Fatalf("batch holds %+v %v, one by one %+v", got, ok, e)
		}
		return true
	})
}
