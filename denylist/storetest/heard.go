package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// Heard collects what a RevokedNotifier tells a listener (Listen).
type Heard struct {
	mu      sync.Mutex
	entries []denylist.Entry
}

// Listen is the listener: pass it to OnRevoked.
func (h *Heard) Listen(es []denylist.Entry) {
	h.mu.Lock()
	h.entries = append(h.entries, es...)
	h.mu.Unlock()
}

// Wait polls until k was heard, failing the test after a deadline.
func (h *Heard) Wait(t *testing.T, what string, k denylist.Key) denylist.Entry {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if e, ok := h.Find(k); ok {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: listener never told of %s", what, k)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Len returns how many entries were heard.
func (h *Heard) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.entries)
}

// Last returns the entry heard last.
func (h *Heard) Last() denylist.Entry {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entries[len(h.entries)-1]
}

// Has reports whether k was heard.
func (h *Heard) Has(k denylist.Key) bool {
	_, ok := h.Find(k)
	return ok
}

// Find returns the entry of k heard first.
func (h *Heard) Find(k denylist.Key) (denylist.Entry, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.entries {
		if e.Key == k {
			return e, true
		}
	}
	return denylist.Entry{}, false
}

// LiveEntry returns an entry of kind whose digest is made of b, with
// cutoff, expiring in an hour of the real clock.
func LiveEntry(b byte, kind denylist.Kind, cutoff int64) denylist.Entry {
	var d denylist.Digest
	d[0], d[1], d[2] = byte(kind), b, 0x5a
	return denylist.Entry{Key: denylist.Key{Kind: kind, Digest: d}, Cutoff: cutoff, Expires: time.Now().Add(time.Hour).Unix()}
}
