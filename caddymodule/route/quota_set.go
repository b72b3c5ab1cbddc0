package route

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// CallerQuota is the quota a route call is charged to, once admitted,
// and what it reserved of the anonymous share while in flight.
type CallerQuota struct {
	Set      *QuotaSet // nil: charged to none
	Key      string
	By       string        // "address" or "client"
	Pending  *atomic.Int64 // quotas.pending, while reserved entries are held
	Reserved int64
}

// Done releases what the call reserved of the anonymous share (when it
// has stored, or failed).
func (cq *CallerQuota) Done() {
	if cq.Pending != nil {
		cq.Pending.Add(-cq.Reserved)
		cq.Pending = nil
	}
}

// Charge counts entries, just stored, against the call's caller.
func (cq CallerQuota) Charge(entries []denylist.Entry, now time.Time) {
	if cq.Set != nil && len(entries) > 0 {
		cq.Set.Add(cq.Key, entries, now)
	}
}

// QuotaSet counts the unexpired entries of each key, for at most max keys
// (least recently used out first).
type QuotaSet struct {
	Limit int64
	Width int64 // seconds per slot
	mu    sync.Mutex
	LRU[QuotaUse]
}

// QuotaUse is one key's entries by expiry slot. Live slots span at most
// QuotaSlots+1 slot numbers, so with quotaSlots+2 places two live slots
// never share one: a place holding another slot number holds a dead one.
type QuotaUse struct {
	slot  [QuotaSlots + 2]int64 // the slot number each count is of
	count [QuotaSlots + 2]int64
}

// Held returns the entries key holds at now, and when the first of them
// expires (now when it holds none).
func (s *QuotaSet) Held(key string, now time.Time) (n int64, free time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.peek(key)
	if u == nil {
		return 0, now
	}
	cur := now.Unix() / s.Width
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
	return n, time.Unix((first+1)*s.Width, 0)
}

// Add charges entries to key.
func (s *QuotaSet) Add(key string, entries []denylist.Entry, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, _ := s.Use(key)
	cur := now.Unix() / s.Width
	for _, e := range entries {
		slot := min(max(e.Expires/s.Width, cur), cur+QuotaSlots) // within the span, whatever the clock
		i := int(slot % int64(len(u.slot)))
		if u.slot[i] != slot {
			u.slot[i], u.count[i] = slot, 0
		}
		u.count[i]++
	}
}

// QuotaSlots is how many expiry slots span the longest entry lifetime: an
// entry is counted until the end of its slot, at most 1/16 of that
// lifetime after it expires.
const QuotaSlots = 16
