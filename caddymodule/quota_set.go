package caddymodule

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// callerQuota is the quota a route call is charged to, once admitted,
// and what it reserved of the anonymous share while in flight.
type callerQuota struct {
	set      *quotaSet // nil: charged to none
	key      string
	by       string        // "address" or "client"
	pending  *atomic.Int64 // quotas.pending, while reserved entries are held
	reserved int64
}

// done releases what the call reserved of the anonymous share (when it
// has stored, or failed).
func (cq *callerQuota) done() {
	if cq.pending != nil {
		cq.pending.Add(-cq.reserved)
		cq.pending = nil
	}
}

// charge counts entries, just stored, against the call's caller.
func (cq callerQuota) charge(entries []denylist.Entry, now time.Time) {
	if cq.set != nil && len(entries) > 0 {
		cq.set.add(cq.key, entries, now)
	}
}

// quotaSet counts the unexpired entries of each key, for at most max keys
// (least recently used out first).
type quotaSet struct {
	limit int64
	width int64 // seconds per slot
	mu    sync.Mutex
	lru[quotaUse]
}

// quotaUse is one key's entries by expiry slot. Live slots span at most
// quotaSlots+1 slot numbers, so with quotaSlots+2 places two live slots
// never share one: a place holding another slot number holds a dead one.
type quotaUse struct {
	slot  [quotaSlots + 2]int64 // the slot number each count is of
	count [quotaSlots + 2]int64
}

// held returns the entries key holds at now, and when the first of them
// expires (now when it holds none).
func (s *quotaSet) held(key string, now time.Time) (n int64, free time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.peek(key)
	if u == nil {
		return 0, now
	}
	cur := now.Unix() / s.width
	first := int64(math.MaxInt64)
	for i, slot := range u.slot {
		if u.count[i] > 0 && slot >= cur {
			n += u.count[i]
			first = min(first, slot)
		}
	}
	if n == 0 {
		return 0, now
	}
	return n, time.Unix((first+1)*s.width, 0)
}

// add charges entries to key.
func (s *quotaSet) add(key string, entries []denylist.Entry, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _ := s.use(key)
	cur := now.Unix() / s.width
	for _, e := range entries {
		slot := min(max(e.Expires/s.width, cur), cur+quotaSlots) // within the span, whatever the clock
		i := int(slot % int64(len(u.slot)))
		if u.slot[i] != slot {
			u.slot[i], u.count[i] = slot, 0
		}
		u.count[i]++
	}
}

// quotaSlots is how many expiry slots span the longest entry lifetime: an
// entry is counted until the end of its slot, at most 1/16 of that
// lifetime after it expires.
const quotaSlots = 16
