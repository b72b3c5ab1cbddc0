package denylist

import (
	"context"
	"errors"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// flakyStore is an in-memory Store whose writes fail while down is set.
type flakyStore struct {
	ix   *Index
	down atomic.Bool
}

func (f *flakyStore) fail() error {
	if f.down.Load() {
		return errors.Join(ErrUnavailable, errors.New("flaky store down"))
	}
	return nil
}

func (f *flakyStore) Revoke(_ context.Context, es ...Entry) error {
	if err := f.fail(); err != nil {
		return err
	}
	f.ix.Put(es...)
	return nil
}
func (f *flakyStore) Unrevoke(_ context.Context, ks ...Key) error {
	f.ix.Delete(ks...)
	return f.fail()
}
func (f *flakyStore) Check(_ context.Context, q *Query) (Match, error) {
	if err := f.fail(); err != nil {
		return Match{}, err
	}
	return f.ix.Check(q, time.Now().Unix()), nil
}
func (f *flakyStore) Get(_ context.Context, k Key) (Entry, bool, error) {
	e, ok := f.ix.Get(k, time.Now().Unix())
	return e, ok, f.fail()
}
func (f *flakyStore) List(context.Context, string, int) ([]Entry, string, error) {
	return nil, "", f.fail()
}
func (f *flakyStore) Status(context.Context) Status {
	return Status{Backend: "memory", Healthy: !f.down.Load()}
}
func (f *flakyStore) Close() error { return nil }

func liveEntry(name string) Entry {
	now := time.Now()
	return NewEntry(NewHasher(nil).Key(KindToken, "", []byte(name)), now, now.Add(time.Hour))
}

func queryOf(e Entry) *Query {
	q := &Query{}
	q.Add(e.Key)
	return q
}

// TestOutboxDurable: what Add wrote is there after a reopen, enforced by
// Check; Drained removes an entry only as it was handed over.
func TestOutboxDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "outbox.db")
	ob, err := OpenOutbox(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a, b := liveEntry("a"), liveEntry("b")
	if err := ob.Add(a, b); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenOutbox(path, 50*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("a second open: %v, want ErrLocked", err)
	}
	ob.Close()
	ob, err = OpenOutbox(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	if ob.Len() != 2 || !ob.Check(queryOf(a), time.Now().Unix()).Revoked {
		t.Fatalf("after reopen: %d entries, a revoked: %v", ob.Len(), ob.Check(queryOf(a), time.Now().Unix()).Revoked)
	}
	later := b
	later.Expires += 60
	if err := ob.Add(later); err != nil {
		t.Fatal(err)
	}
	if err := ob.Drained(a, b); err != nil { // b as it was before the merge
		t.Fatal(err)
	}
	if ob.Len() != 1 || ob.Check(queryOf(a), time.Now().Unix()).Revoked || !ob.Check(queryOf(b), time.Now().Unix()).Revoked {
		t.Fatalf("after Drained: %d entries", ob.Len())
	}
}

// TestResilientOpensLaterAndDrains: a store that cannot be opened at first
// answers ErrUnavailable until it opens; a confirmed revocation the backend
// refuses is kept, enforced, and written once the backend takes it.
func TestResilientOpensLaterAndDrains(t *testing.T) {
	backend := &flakyStore{ix: NewIndex()}
	var openable atomic.Bool
	r := NewResilient(ResilientOptions{
		Open: func(context.Context) (Store, error) {
			if !openable.Load() {
				return nil, errors.Join(ErrUnavailable, errors.New("not yet"))
			}
			return backend, nil
		},
		Backend: "memory", Where: "test", OutboxPath: filepath.Join(t.TempDir(), "outbox.db"),
		Retry: 10 * time.Millisecond, MaxRetry: 20 * time.Millisecond,
	}, nil)
	defer r.Close()
	e := liveEntry("t")
	if _, err := r.Check(context.Background(), queryOf(e)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("check before open: %v", err)
	}
	if ready, _ := r.Ready(); ready || !r.Down() {
		t.Fatal("ready before open")
	}
	openable.Store(true)
	waitFor(t, func() bool { ready, _ := r.Ready(); return ready })

	backend.down.Store(true)
	waitFor(t, func() bool { return r.Outbox() != nil })
	if err := r.RevokeConfirmed(context.Background(), e); err != nil {
		t.Fatalf("confirmed revocation with the backend down: %v", err)
	}
	if m, err := r.Check(context.Background(), queryOf(e)); err != nil || !m.Revoked {
		t.Fatalf("not enforced from the outbox: %v %v", m, err)
	}
	if r.OutboxLen() != 1 {
		t.Fatalf("outbox holds %d", r.OutboxLen())
	}
	backend.down.Store(false)
	waitFor(t, func() bool { return r.OutboxLen() == 0 })
	if _, ok := backend.ix.Get(e.Key, time.Now().Unix()); !ok {
		t.Fatal("the backend never got the confirmed revocation")
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestResilientLooksThrough: the backend's counter is found through the
// wrapper (the max_entries ceiling depends on it).
func TestResilientLooksThrough(t *testing.T) {
	es, err := OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	r := NewResilient(ResilientOptions{Backend: "embedded", Where: "test"}, es)
	defer r.Close()
	if CounterOf(r) == nil {
		t.Fatal("CounterOf does not look through Resilient")
	}
	if CounterOf(NewResilient(ResilientOptions{Backend: "redis", Where: "test"}, nil)) != nil {
		t.Fatal("a counter of a store that is not open")
	}
}
