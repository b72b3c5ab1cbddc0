package denylist

import (
	"encoding/binary"
	"math/bits"
)

// digestTable is the hash table of an Index shard: open addressing over
// groups of 8 slots, each slot a Digest and its packed value (24 bytes)
// and a control byte, found by comparing the 8 control bytes of a group
// at once (the design of Go's own maps and of Abseil's SwissTable).
//
// It differs from a Go map in what costs memory at 10^7 entries: its
// capacity is what the entries need at a load of 7/8, not a power of
// two (a Go map presized for n holds between n and 2n slots: ~56 bytes
// per entry measured at 10^6), so an Index loaded with n entries holds
// about 25/0.85 = 29 bytes per entry.
type digestTable struct {
	ctrl  []uint64 // a control byte per slot, 8 per group: ctrlEmpty, ctrlDeleted, or ctrlFull|fingerprint
	slots []tableSlot
	live  int // full slots
	used  int // full and deleted slots
}

type tableSlot struct {
	d Digest
	p packed
}

const (
	ctrlEmpty   = 0x00
	ctrlDeleted = 0x01
	ctrlFull    = 0x80

	groupSlots = 8
	// tableLoad is the most full-or-deleted slots per 8 before a rebuild.
	tableLoad = 7
	// tableSlack is the room a table sized for n entries keeps for more
	// (1/20: 5%), so that the writes after a load do not rebuild at once.
	tableSlack = 20

	bytesLo = 0x0101010101010101
	bytesHi = 0x8080808080808080
)

// newDigestTable returns a table with room for n entries.
func newDigestTable(n int) digestTable {
	n += n / tableSlack
	groups := max(1, (n*groupSlots/tableLoad+groupSlots-1)/groupSlots)
	return digestTable{ctrl: make([]uint64, groups), slots: make([]tableSlot, groups*groupSlots)}
}

// position returns the first group to probe for d and d's control byte.
// Digests are uniform (SHA-256), but the table must not degrade on ones
// that are not (tests, benchmarks): both halves are mixed by a multiply
// before the group (the high bits) and the fingerprint are taken.
func (t *digestTable) position(d *Digest) (group int, ctrl byte) {
	h := (binary.LittleEndian.Uint64(d[8:16]) ^ binary.LittleEndian.Uint64(d[:8])) * 0x9e3779b97f4a7c15
	hi, _ := bits.Mul64(h, uint64(len(t.ctrl)))
	return int(hi), ctrlFull | byte(h>>24)&0x7f
}

// matches returns a mask with the high bit of every byte of w equal to b
// set (and, rarely, of a byte above one that is: callers compare the
// digests anyway).
func matches(w uint64, b byte) uint64 {
	x := w ^ (bytesLo * uint64(b))
	return (x - bytesLo) &^ x & bytesHi
}

// find returns the slot of d, or -1.
func (t *digestTable) find(d *Digest) int {
	if len(t.ctrl) == 0 {
		return -1
	}
	g, c := t.position(d)
	for range len(t.ctrl) {
		w := t.ctrl[g]
		for m := matches(w, c); m != 0; m &= m - 1 {
			i := g*groupSlots + bits.TrailingZeros64(m)/8
			if t.slots[i].d == *d {
				return i
			}
		}
		if matches(w, ctrlEmpty) != 0 {
			return -1
		}
		if g++; g == len(t.ctrl) {
			g = 0
		}
	}
	return -1
}

// get returns d's value.
func (t *digestTable) get(d *Digest) (packed, bool) {
	if i := t.find(d); i >= 0 {
		return t.slots[i].p, true
	}
	return 0, false
}

// setCtrl sets slot i's control byte.
func (t *digestTable) setCtrl(i int, c byte) {
	shift := uint(i%groupSlots) * 8
	w := &t.ctrl[i/groupSlots]
	*w = *w&^(0xff<<shift) | uint64(c)<<shift
}

// put sets d's value (merge, if wanted, is the caller's).
func (t *digestTable) put(d *Digest, p packed) {
	v, _ := t.upsert(d)
	*v = p
}

// upsert returns where d's value is, inserting d (value 0) when absent;
// found says whether it was there. The pointer is good until the next
// insertion.
func (t *digestTable) upsert(d *Digest) (v *packed, found bool) {
	if i := t.find(d); i >= 0 {
		return &t.slots[i].p, true
	}
	return t.insert(d), false
}

// insert adds d, which is absent, and returns where its value is.
func (t *digestTable) insert(d *Digest) *packed {
	if (t.used+1)*groupSlots > len(t.slots)*tableLoad {
		t.rebuild(t.live + 1 + t.live/4) // grow by a quarter
	}
	g, c := t.position(d)
	for {
		w := t.ctrl[g]
		// The first empty or deleted slot of the group.
		if m := matches(w, ctrlEmpty) | matches(w, ctrlDeleted); m != 0 {
			j := bits.TrailingZeros64(m) / 8
			i := g*groupSlots + j
			if byte(w>>(uint(j)*8)) == ctrlEmpty {
				t.used++
			}
			t.setCtrl(i, c)
			t.slots[i] = tableSlot{d: *d}
			t.live++
			return &t.slots[i].p
		}
		if g++; g == len(t.ctrl) {
			g = 0
		}
	}
}

// del removes d.
func (t *digestTable) del(d *Digest) {
	if i := t.find(d); i >= 0 {
		t.delAt(i)
	}
}

// full says whether slot i holds an entry.
func (t *digestTable) full(i int) bool {
	return byte(t.ctrl[i/groupSlots]>>(uint(i%groupSlots)*8))&ctrlFull != 0
}

// delAt empties slot i, which is full.
func (t *digestTable) delAt(i int) {
	t.slots[i] = tableSlot{}
	t.live--
	if matches(t.ctrl[i/groupSlots], ctrlEmpty) != 0 {
		// A probe stops at this group anyway: the slot can be empty.
		t.setCtrl(i, ctrlEmpty)
		t.used--
		return
	}
	t.setCtrl(i, ctrlDeleted)
}

// each calls fn with every entry until it returns false.
func (t *digestTable) each(fn func(*Digest, packed) bool) {
	for i := range t.slots {
		if t.full(i) {
			if !fn(&t.slots[i].d, t.slots[i].p) {
				return
			}
		}
	}
}

// rebuild moves every entry into a new table with room for n.
func (t *digestTable) rebuild(n int) {
	old := *t
	*t = newDigestTable(max(n, old.live))
	old.each(func(d *Digest, p packed) bool {
		t.put(d, p)
		return true
	})
}

// purge removes the entries whose value drop says to remove, then
// rebuilds the table when that left it mostly empty or mostly deleted
// slots, and returns how many it removed.
func (t *digestTable) purge(drop func(packed) bool) int {
	n := 0
	for i := range t.slots {
		if t.full(i) && drop(t.slots[i].p) {
			t.delAt(i) // the slot is known: no probe for its digest
			n++
		}
	}
	// Under half the most it may hold, or more deleted slots than half
	// the live ones: rebuild to the live entries' size.
	if n > 0 && (t.live*2*groupSlots < len(t.slots)*tableLoad || t.used-t.live > t.live/2) {
		t.rebuild(t.live)
	}
	return n
}
