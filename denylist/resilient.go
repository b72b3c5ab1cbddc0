package denylist

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Defaults of ResilientOptions.
const (
	DefaultResilientRetry    = 250 * time.Millisecond
	DefaultResilientMaxRetry = 5 * time.Second
	// resilientOpenTimeout bounds one attempt to open the backend (a
	// mirror's load of a million entries takes about a second).
	resilientOpenTimeout = time.Minute
	// resilientDrainTimeout bounds one write of the outbox into the backend.
	resilientDrainTimeout = 30 * time.Second
	// resilientLogEvery spaces out the log lines of a lasting failure.
	resilientLogEvery = 30 * time.Second
	// outboxLockTimeout is how long one attempt waits for another
	// process's lock on the outbox file.
	outboxLockTimeout = time.Second
	// outboxFirstLockTimeout bounds the first, synchronous attempt.
	outboxFirstLockTimeout = 100 * time.Millisecond
	// outboxProbe is how often a backend that did not answer the outbox's
	// write is probed (PING) while the outbox waits for it: what it holds
	// is written within about this much of the backend's return, not
	// after the retry's backoff (up to MaxRetry).
	outboxProbe = 100 * time.Millisecond
)

// ResilientOptions configures a Resilient store.
type ResilientOptions struct {
	// Open opens the backend (a RedisStore, a MirrorStore). It is called
	// again, with growing waits, until it succeeds. nil: the backend is
	// never opened (caddy validate).
	Open func(ctx context.Context) (Store, error)
	// Backend names the backend in Status while it is not open ("redis").
	Backend string
	// Where names the backend for log lines ("redis address ...").
	Where string
	// OutboxPath is the file of the outbox that keeps confirmed
	// revocations the backend has not stored yet (RevokeConfirmed); ""
	// for none.
	OutboxPath string
	// OutboxFile opens the outbox's file (boltstore.OpenOutboxFile); the
	// outbox is kept only when both it and OutboxPath are set.
	OutboxFile OpenEntryFile
	// Retry is the first wait between attempts (doubled up to MaxRetry).
	// Default: DefaultResilientRetry.
	Retry time.Duration
	// MaxRetry caps the wait. Default: DefaultResilientMaxRetry.
	MaxRetry time.Duration
	// OutboxMax bounds the entries the outbox holds; past it a confirmed
	// revocation the backend does not take either is refused
	// (ErrUnavailable), never dropped. Default: DefaultOutboxMax.
	OutboxMax int
	// Logger receives the store's state changes.
	Logger *zap.Logger
}

// Resilient is a Store that need not be reachable when it is created: it
// opens its backend in the background, retrying until it answers, and
// until then fails every call with ErrUnavailable (so checks get the
// handler's fail mode and revocations 503). It keeps an Outbox: a
// revocation an upstream has confirmed (RevokeConfirmed) is written to a
// local durable file first, enforced from it at once, and retried into the
// backend until stored, across restarts.
type Resilient struct {
	o      ResilientOptions
	logger *zap.Logger
	base   time.Time

	inner  atomic.Pointer[storeRef]
	outbox atomic.Pointer[Outbox]

	lastErr        atomic.Pointer[string]
	failedAt, okAt atomic.Int64 // ns after base of the backend's last failure and success (direct stores)

	revoked revokedForward // see OnRevoked

	outboxFull atomic.Uint64 // see OutboxFull

	writes writeFailures // writes the backend refuses (resilient_failure.go)

	kick      chan struct{}
	cancel    context.CancelFunc
	done      sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

type storeRef struct{ Store }

// NewResilient returns a Resilient store over s, the backend when it is
// already open, or nil; in the background it opens the outbox, opens the
// backend when s is nil, and drains the outbox.
func NewResilient(o ResilientOptions, s Store) *Resilient {
	if o.Retry <= 0 {
		o.Retry = DefaultResilientRetry
	}
	if o.MaxRetry < o.Retry {
		o.MaxRetry = max(DefaultResilientMaxRetry, o.Retry)
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	r := &Resilient{o: o, logger: o.Logger, base: time.Now(), kick: make(chan struct{}, 1)}
	if s != nil {
		r.inner.Store(&storeRef{s})
		r.forwardRevoked()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	if o.OutboxPath != "" && o.OutboxFile != nil && o.Open != nil {
		// At once when the file is free, so that what it holds is enforced
		// from the first request; else in the background.
		if ob, err := OpenOutbox(o.OutboxFile, o.OutboxPath, outboxFirstLockTimeout); err == nil {
			r.adoptOutbox(ob)
		} else {
			r.done.Add(1)
			go r.openOutbox(ctx)
		}
	}
	if o.Open != nil || s != nil {
		r.done.Add(1)
		go r.run(ctx)
	}
	return r
}

// Current returns the open backend, or nil while it is not open.
func (r *Resilient) Current() Store {
	if ref := r.inner.Load(); ref != nil {
		return ref.Store
	}
	return nil
}

// Unwrap returns the open backend (nil while it is not open), so that
// CounterOf and OwnersOf look through the wrapper.
func (r *Resilient) Unwrap() Store { return r.Current() }

// Outbox returns the outbox, or nil while it is not open (or configured).
func (r *Resilient) Outbox() *Outbox { return r.outbox.Load() }

// OutboxFull returns how many confirmed revocations the outbox refused
// because it was full (each then written to the backend directly, or
// refused).
func (r *Resilient) OutboxFull() uint64 { return r.outboxFull.Load() }

// OutboxMax returns the outbox's bound (0 while it is not open).
func (r *Resilient) OutboxMax() int {
	if ob := r.outbox.Load(); ob != nil {
		return ob.Max()
	}
	return 0
}

// OutboxLen returns how many confirmed revocations wait for the backend.
func (r *Resilient) OutboxLen() int {
	if ob := r.outbox.Load(); ob != nil {
		return ob.Len()
	}
	return 0
}

func (r *Resilient) since() int64 { return int64(time.Since(r.base)) }

// notReady is the error of a call made before the backend is open.
func (r *Resilient) notReady() error {
	why := "not connected yet"
	if p := r.lastErr.Load(); p != nil {
		why = *p
	}
	return fmt.Errorf("%w: %s: not open yet (retrying in the background): %s", ErrUnavailable, r.o.Where, why)
}

// note records the outcome of a write to the backend, for Down and Ready.
func (r *Resilient) note(err error) error {
	r.writes.note(err, time.Now())
	if err == nil {
		r.okAt.Store(r.since())
	} else if errors.Is(err, ErrUnavailable) {
		r.failedAt.Store(r.since())
	}
	return err
}

// Down reports whether the backend is known not to take writes now: not
// open, its mirror stale (Redis has not answered it within its bound), or
// (no mirror) its last call failed within the last second.
func (r *Resilient) Down() bool {
	s := r.Current()
	if s == nil {
		return true
	}
	if f, ok := s.(FreshnessReporter); ok {
		_, fresh := f.Freshness()
		return !fresh
	}
	failed := r.failedAt.Load()
	return failed > r.okAt.Load() && r.since()-failed < int64(time.Second)
}

// Ready reports whether checks are answered from a backend that is open
// and proven up to date, and revocations are not refused by it for a
// reason retrying does not cure (an ACL, a script error: see
// writeRefusal; until one is stored, or for writeFailureHold); why says
// what is missing.
func (r *Resilient) Ready() (ready bool, why string) {
	s := r.Current()
	if s == nil {
		return false, r.notReady().Error()
	}
	if p, ok := s.(ReadyReporter); ok {
		if ok, why := p.Ready(); !ok {
			return false, why
		}
	}
	if r.Down() {
		return false, "the store does not answer"
	}
	if why := r.writes.failing(time.Now()); why != "" {
		return false, why
	}
	return true, ""
}

// Check implements Store: a pending revocation of the outbox matches at
// once; the rest is the backend's answer.
func (r *Resilient) Check(ctx context.Context, q *Query) (Match, error) {
	if ob := r.outbox.Load(); ob != nil {
		if m := ob.Check(q, q.Time().Unix()); m.Revoked {
			return m, nil
		}
	}
	s := r.Current()
	if s == nil {
		return Match{}, r.notReady()
	}
	return s.Check(ctx, q)
}

// Get implements Store like Check.
func (r *Resilient) Get(ctx context.Context, key Key) (Entry, bool, error) {
	if ob := r.outbox.Load(); ob != nil {
		if e, ok := ob.Get(key, time.Now().Unix()); ok {
			return e, true, nil
		}
	}
	s := r.Current()
	if s == nil {
		return Entry{}, false, r.notReady()
	}
	return s.Get(ctx, key)
}

// List implements Store: the backend's entries (not the outbox's).
func (r *Resilient) List(ctx context.Context, cursor string, limit int) ([]Entry, string, error) {
	s := r.Current()
	if s == nil {
		return nil, "", r.notReady()
	}
	return s.List(ctx, cursor, limit)
}

// Revoke implements Store: the backend stores the entries, or the call
// fails.
func (r *Resilient) Revoke(ctx context.Context, entries ...Entry) error {
	s := r.Current()
	if s == nil {
		return r.notReady()
	}
	return r.note(s.Revoke(ctx, entries...))
}

// RevokeConfirmed stores entries an upstream has confirmed revoked: it
// writes them to the outbox first (synced to disk; enforced at once), then
// to the backend; what the backend does not take stays in the outbox and
// is retried until stored, by this process or the next one to open the
// file. It fails only when neither the outbox nor the backend took them.
func (r *Resilient) RevokeConfirmed(ctx context.Context, entries ...Entry) error {
	ob := r.outbox.Load()
	if ob == nil {
		return r.Revoke(ctx, entries...)
	}
	if addErr := ob.AddWriting(entries...); addErr != nil {
		if errors.Is(addErr, ErrOutboxFull) {
			r.outboxFull.Add(1)
		}
		r.logger.Error("token_revocation: confirmed revocation not written to the outbox; writing to the store directly (refused, 503, if it does not take it either)",
			zap.String("store", r.o.Where), zap.Int("outbox_pending", ob.Len()), zap.Error(addErr))
		if err := r.Revoke(ctx, entries...); err != nil {
			return fmt.Errorf("%w; and the outbox did not take it: %v", err, addErr)
		}
		return nil
	}
	if err := r.Revoke(ctx, entries...); err != nil {
		r.logger.Warn("confirmed revocation kept in the local outbox: the store did not take it; retrying in the background",
			zap.String("store", r.o.Where), zap.Int("entries", len(entries)), zap.Int("outbox_pending", ob.Len()), zap.Error(err))
		ob.Release(entries...)
		r.wake()
		r.revoked.listeners.Notify(entries) // enforced from the outbox
		return nil
	}
	if err := ob.Drained(entries...); err != nil {
		r.logger.Warn("outbox: removing stored entries", zap.Error(err)) // stored twice later: harmless
	}
	return nil
}

// Unrevoke implements Store: the entries leave the outbox and the backend.
func (r *Resilient) Unrevoke(ctx context.Context, keys ...Key) error {
	s := r.Current()
	if s == nil {
		return r.notReady()
	}
	if ob := r.outbox.Load(); ob != nil {
		if err := ob.Drop(keys...); err != nil {
			return err
		}
	}
	return r.note(s.Unrevoke(ctx, keys...))
}

// Own implements Owners through the backend's owner index.
func (r *Resilient) Own(ctx context.Context, owner Digest, owned ...Entry) error {
	o, err := r.owners()
	if err != nil {
		return err
	}
	return r.note(o.Own(ctx, owner, owned...))
}

// Owned implements Owners through the backend's owner index.
func (r *Resilient) Owned(ctx context.Context, owner Digest) ([]Entry, error) {
	o, err := r.owners()
	if err != nil {
		return nil, err
	}
	return o.Owned(ctx, owner)
}

func (r *Resilient) owners() (Owners, error) {
	s := r.Current()
	if s == nil {
		return nil, r.notReady()
	}
	if o := OwnersOf(s); o != nil {
		return o, nil
	}
	return nil, fmt.Errorf("the %T store keeps no owner index", s)
}

// SignalValue implements SignalState through the backend's (the writes
// count for Down and Ready as a revocation's do).
func (r *Resilient) SignalValue(ctx context.Context, source, name string) (string, error) {
	st, err := r.signals()
	if err != nil {
		return "", err
	}
	return st.SignalValue(ctx, source, name)
}

// SetSignalValue implements SignalState through the backend's.
func (r *Resilient) SetSignalValue(ctx context.Context, source, name, value string) error {
	st, err := r.signals()
	if err != nil {
		return err
	}
	return r.note(st.SetSignalValue(ctx, source, name, value))
}

// SwapSignalValue implements SignalState through the backend's.
func (r *Resilient) SwapSignalValue(ctx context.Context, source, name, old, value string) (string, error) {
	st, err := r.signals()
	if err != nil {
		return "", err
	}
	v, err := st.SwapSignalValue(ctx, source, name, old, value)
	return v, r.note(err)
}

// AddSignalMembers implements SignalState through the backend's.
func (r *Resilient) AddSignalMembers(ctx context.Context, source, set string, expires int64, members ...string) error {
	st, err := r.signals()
	if err != nil {
		return err
	}
	return r.note(st.AddSignalMembers(ctx, source, set, expires, members...))
}

// SignalMember implements SignalState through the backend's.
func (r *Resilient) SignalMember(ctx context.Context, source, set, member string) (bool, error) {
	st, err := r.signals()
	if err != nil {
		return false, err
	}
	return st.SignalMember(ctx, source, set, member)
}

// SignalMembers implements SignalState through the backend's.
func (r *Resilient) SignalMembers(ctx context.Context, source, set string) ([]string, error) {
	st, err := r.signals()
	if err != nil {
		return nil, err
	}
	return st.SignalMembers(ctx, source, set)
}

// RemoveSignalMembers implements SignalState through the backend's.
func (r *Resilient) RemoveSignalMembers(ctx context.Context, source, set string, members ...string) error {
	st, err := r.signals()
	if err != nil {
		return err
	}
	return r.note(st.RemoveSignalMembers(ctx, source, set, members...))
}

func (r *Resilient) signals() (SignalState, error) {
	s := r.Current()
	if s == nil {
		return nil, r.notReady()
	}
	if st := SignalStateOf(s); st != nil {
		return st, nil
	}
	return nil, fmt.Errorf("the %T store keeps no signal state", s)
}

// Status implements Store: the backend's status, with "ready" and the
// outbox's depth under Details.
func (r *Resilient) Status(ctx context.Context) Status {
	var st Status
	if s := r.Current(); s != nil {
		st = s.Status(ctx)
	} else {
		st = Status{Backend: r.o.Backend, Error: r.notReady().Error()}
	}
	if st.Details == nil {
		st.Details = map[string]any{}
	}
	ready, why := r.Ready()
	st.Details["ready"] = ready
	if !ready {
		st.Details["not_ready"] = why
	}
	if ob := r.outbox.Load(); ob != nil {
		st.Details["outbox"] = map[string]any{"path": ob.Path(), "pending": ob.Len()}
	}
	return st
}

// Close stops the background work and closes the backend and the outbox.
func (r *Resilient) Close() error {
	r.closeOnce.Do(func() {
		r.cancel()
		r.done.Wait()
		if s := r.Current(); s != nil {
			r.closeErr = s.Close()
		}
		if ob := r.outbox.Load(); ob != nil {
			if err := ob.Close(); err != nil && r.closeErr == nil {
				r.closeErr = err
			}
		}
	})
	return r.closeErr
}

func (r *Resilient) wake() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Sleep waits d or until ctx ends; false when it ended.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// openOutbox opens the outbox file, retrying while another process holds
// it, and enforces what it holds from then on.
func (r *Resilient) openOutbox(ctx context.Context) {
	defer r.done.Done()
	wait := r.o.Retry
	var logged time.Time
	for ctx.Err() == nil {
		ob, err := OpenOutbox(r.o.OutboxFile, r.o.OutboxPath, outboxLockTimeout)
		if err == nil {
			r.adoptOutbox(ob)
			return
		}
		if time.Since(logged) >= resilientLogEvery {
			logged = time.Now()
			r.logger.Error("cannot open the outbox; confirmed revocations go to the store directly until it opens", zap.Error(err))
		}
		if !Sleep(ctx, wait) {
			return
		}
		wait = min(wait*2, r.o.MaxRetry)
	}
}

// adoptOutbox starts using an opened outbox.
func (r *Resilient) adoptOutbox(ob *Outbox) {
	if a := ob.SetAside(); a != "" {
		r.logger.Error("token_revocation: "+a+"; revocations it held were confirmed by the upstream and may not have reached the store: the file set aside holds them", zap.String("store", r.o.Where))
	}
	ob.SetMax(r.o.OutboxMax)
	r.outbox.Store(ob)
	if n := ob.Len(); n > 0 {
		r.logger.Warn("outbox holds confirmed revocations the store has not stored yet: enforcing them, and writing them to the store",
			zap.String("path", ob.Path()), zap.Int("entries", n))
	}
	r.wake()
}

// run opens the backend when it is not open, then drains the outbox into
// it whenever it holds something.
func (r *Resilient) run(ctx context.Context) {
	defer r.done.Done()
	wait := r.o.Retry
	var logged time.Time
	start := time.Now()
	for r.Current() == nil {
		octx, cancel := context.WithTimeout(ctx, resilientOpenTimeout)
		s, err := r.o.Open(octx)
		cancel()
		if ctx.Err() != nil {
			if s != nil {
				s.Close()
			}
			return
		}
		if err == nil {
			r.inner.Store(&storeRef{s})
			r.forwardRevoked()
			r.logger.Info("denylist store open: revocations and checks are served", zap.String("store", r.o.Where),
				zap.Duration("after", time.Since(start).Round(time.Millisecond)))
			break
		}
		msg := err.Error()
		r.lastErr.Store(&msg)
		if time.Since(logged) >= resilientLogEvery {
			logged = time.Now()
			r.logger.Warn("denylist store unavailable: checks get the fail mode and revocations 503 until it answers; retrying",
				zap.String("store", r.o.Where), zap.Error(err))
		}
		if !Sleep(ctx, wait) {
			return
		}
		wait = min(wait*2, r.o.MaxRetry)
	}

	wait = r.o.Retry
	logged = time.Time{}
	answered := false // the drain failed once while the backend answered its probe
	delWait := r.o.Retry
	var delLogged time.Time
	for {
		ob := r.outbox.Load()
		if ob != nil && ob.Len() > 0 {
			if err := r.drain(ctx, ob); err != nil {
				if ctx.Err() != nil {
					return
				}
				if time.Since(logged) >= resilientLogEvery {
					logged = time.Now()
					r.logger.Warn("outbox not drained yet: the store does not take its revocations; retrying",
						zap.String("store", r.o.Where), zap.Int("outbox_pending", ob.Len()), zap.Error(err))
				}
				if r.unreachable(ctx) {
					// Retried as soon as the backend answers again.
					if !r.awaitReachable(ctx) {
						return
					}
					answered = false
					continue
				}
				if !answered {
					// It answers now: it may have come back between the
					// write and the probe (a restart, a failover). Once
					// at once, before backing off.
					answered = true
					continue
				}
				// It answers but did not take them: back off.
				if !Sleep(ctx, wait) {
					return
				}
				wait = min(wait*2, r.o.MaxRetry)
				continue
			}
			wait, logged, answered = r.o.Retry, time.Time{}, false
		}
		if ob != nil && ob.Undeleted() > 0 {
			// Stored, but the file could not lose them (a full disk):
			// deleted again on a backoff, never written to the store again.
			if err := ob.RetryDelete(); err != nil {
				if time.Since(delLogged) >= resilientLogEvery {
					delLogged = time.Now()
					r.logger.Error("token_revocation: outbox: cannot delete revocations the store has stored (is the disk full?); retrying; they are not written to the store again",
						zap.String("path", ob.Path()), zap.Int("entries", ob.Undeleted()), zap.Error(err))
				}
				if !Sleep(ctx, delWait) {
					return
				}
				delWait = min(delWait*2, r.o.MaxRetry)
				continue
			}
			delWait, delLogged = r.o.Retry, time.Time{}
		}
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-time.After(r.o.MaxRetry):
		}
	}
}

// unreachable reports whether the open backend does not answer a probe
// (false when it cannot be probed).
func (r *Resilient) unreachable(ctx context.Context) bool {
	p, ok := r.Current().(Pinger)
	if !ok {
		return false
	}
	pctx, cancel := context.WithTimeout(ctx, outboxProbe)
	defer cancel()
	return p.Ping(pctx) != nil
}

// awaitReachable probes the backend every outboxProbe until it answers (or
// something is added to the outbox); false when ctx ended.
func (r *Resilient) awaitReachable(ctx context.Context) bool {
	p, _ := r.Current().(Pinger)
	for {
		select {
		case <-ctx.Done():
			return false
		case <-r.kick:
			return true
		case <-time.After(outboxProbe):
		}
		if p == nil {
			return true
		}
		// A frozen backend answers this one as soon as it resumes.
		pctx, cancel := context.WithTimeout(ctx, time.Second)
		err := p.Ping(pctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			return ctx.Err() == nil
		}
	}
}

// drain writes what the outbox holds into the backend and removes what
// was stored.
func (r *Resilient) drain(ctx context.Context, ob *Outbox) error {
	now := time.Now().Unix()
	var live, dead []Entry
	for _, e := range ob.Unclaimed() { // not those RevokeConfirmed is writing
		if e.Live(now) {
			live = append(live, e)
		} else {
			dead = append(dead, e)
		}
	}
	if err := ob.Drained(dead...); err != nil {
		return err
	}
	if len(live) == 0 {
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, resilientDrainTimeout)
	defer cancel()
	if err := r.Revoke(dctx, live...); err != nil {
		return err
	}
	if err := ob.Drained(live...); err != nil {
		return err
	}
	r.logger.Info("outbox drained: confirmed revocations stored", zap.String("store", r.o.Where), zap.Int("entries", len(live)))
	return nil
}

var (
	_ Store       = (*Resilient)(nil)
	_ Owners      = (*Resilient)(nil)
	_ SignalState = (*Resilient)(nil)
)
