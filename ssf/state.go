package ssf

import (
	"context"
	"sync"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// State is what a receiver remembers across restarts: the stream it uses,
// the events it applied (so a SET delivered again, because its
// acknowledgement was lost, is acknowledged without being applied twice)
// and the acknowledgements it owes the transmitter. The glue backs it with
// the denylist store, so every instance and every restart shares it.
//
// Events are named by their event key (EventKey: the SET's txn when it
// has one, else its jti); acknowledgements by jti.
type State interface {
	// StreamID returns the stream saved by SaveStreamID ("" when none).
	StreamID(ctx context.Context) (string, error)
	// SaveStreamID saves the stream in use.
	SaveStreamID(ctx context.Context, id string) error
	// SwapStreamID saves id as the stream in use if the saved one is old
	// ("" for none), at once, and returns the stream saved after: id, or
	// the one another instance saved first.
	SwapStreamID(ctx context.Context, old, id string) (string, error)
	// Applied reports whether the event with key was applied.
	Applied(ctx context.Context, key string) (bool, error)
	// MarkApplied records that the event with key was applied; ackJTI,
	// when not "", is a jti to acknowledge at the next poll.
	MarkApplied(ctx context.Context, key, ackJTI string) error
	// OweAck records that jti must be acknowledged at the next poll (a SET
	// delivered again, applied before).
	OweAck(ctx context.Context, jti string) error
	// PendingAcks returns the jtis to acknowledge.
	PendingAcks(ctx context.Context) ([]string, error)
	// Acknowledged records that the transmitter took the acknowledgement of
	// jtis.
	Acknowledged(ctx context.Context, jtis []string) error
}

// DefaultRetention is how long MemoryState remembers an applied event:
// as long as Config.PushMaxAge lets a pushed SET be accepted, and longer
// than a transmitter keeps an unacknowledged one, in practice.
const DefaultRetention = 7 * 24 * time.Hour

// MemoryState is a State in memory, for tests and a single instance that
// may re-apply events after a restart. It remembers an applied event for
// Retention (DefaultRetention when zero).
type MemoryState struct {
	// Retention is how long an applied event is remembered.
	Retention time.Duration
	// Now is its clock (default time.Now).
	Now func() time.Time

	mu      sync.Mutex
	stream  string
	applied map[string]time.Time // when applied
	pruned  time.Time
	pending []string
}

// NewMemoryState returns an empty MemoryState.
func NewMemoryState() *MemoryState { return &MemoryState{applied: map[string]time.Time{}} }

func (m *MemoryState) now() time.Time {
	if m.Now != nil {
		return m.Now()
	}
	return time.Now()
}

func (m *MemoryState) retention() time.Duration {
	if m.Retention > 0 {
		return m.Retention
	}
	return DefaultRetention
}

// StreamID implements State.
func (m *MemoryState) StreamID(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.stream, nil
}

// SaveStreamID implements State.
func (m *MemoryState) SaveStreamID(_ context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.stream = id
	return nil
}

// SwapStreamID implements State.
func (m *MemoryState) SwapStreamID(_ context.Context, old, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.stream == old {
		m.stream = id
	}
	return m.stream, nil
}

// Applied implements State.
func (m *MemoryState) Applied(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	at, ok := m.applied[key]
	return ok && m.now().Sub(at) < m.retention(), nil
}

// MarkApplied implements State.
func (m *MemoryState) MarkApplied(_ context.Context, key, ackJTI string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if now.Sub(m.pruned) > m.retention()/16 {
		for k, at := range m.applied {
			if now.Sub(at) >= m.retention() {
				delete(m.applied, k)
			}
		}
		m.pruned = now
	}
	m.applied[key] = now
	m.owe(ackJTI)
	return nil
}

// Len returns the number of applied events remembered.
func (m *MemoryState) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.applied)
}

// OweAck implements State.
func (m *MemoryState) OweAck(_ context.Context, jti string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.owe(jti)
	return nil
}

func (m *MemoryState) owe(jti string) {
	if jti == "" {
		return
	}
	for _, p := range m.pending {
		if p == jti {
			return
		}
	}
	m.pending = append(m.pending, jti)
}

// PendingAcks implements State.
func (m *MemoryState) PendingAcks(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.pending...), nil
}

// Acknowledged implements State.
func (m *MemoryState) Acknowledged(_ context.Context, jtis []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	done := make(map[string]bool, len(jtis))
	for _, j := range jtis {
		done[j] = true
	}
	kept := m.pending[:0]
	for _, p := range m.pending {
		if !done[p] {
			kept = append(kept, p)
		}
	}
	m.pending = kept
	return nil
}

// Names StoreState keeps its state under, per source.
const (
	stateStream  = "stream_id"
	stateApplied = "applied"
	stateAcks    = "acks_owed"
)

// StoreState is a State kept in a denylist store (its SignalState), so
// every instance sharing the store, and every restart, shares it: the
// stream_id a value, the events applied a set whose members expire after
// Retention, the acknowledgements owed a set kept as long.
type StoreState struct {
	// Store keeps the state.
	Store denylist.SignalState
	// Source names this receiver's state in Store: the transmitter's
	// issuer.
	Source string
	// Retention is how long an applied event and an acknowledgement owed
	// are remembered. Default: DefaultRetention.
	Retention time.Duration
	// Now is the clock of expiries (default time.Now).
	Now func() time.Time
}

func (s *StoreState) expires() int64 {
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	r := s.Retention
	if r <= 0 {
		r = DefaultRetention
	}
	return now().Add(r).Unix()
}

// StreamID implements State.
func (s *StoreState) StreamID(ctx context.Context) (string, error) {
	return s.Store.SignalValue(ctx, s.Source, stateStream)
}

// SaveStreamID implements State.
func (s *StoreState) SaveStreamID(ctx context.Context, id string) error {
	return s.Store.SetSignalValue(ctx, s.Source, stateStream, id)
}

// SwapStreamID implements State.
func (s *StoreState) SwapStreamID(ctx context.Context, old, id string) (string, error) {
	return s.Store.SwapSignalValue(ctx, s.Source, stateStream, old, id)
}

// Applied implements State.
func (s *StoreState) Applied(ctx context.Context, key string) (bool, error) {
	return s.Store.SignalMember(ctx, s.Source, stateApplied, key)
}

// MarkApplied implements State: the event first, then the
// acknowledgement (lost in between, the SET comes again and is
// acknowledged without being applied).
func (s *StoreState) MarkApplied(ctx context.Context, key, ackJTI string) error {
	exp := s.expires()
	if err := s.Store.AddSignalMembers(ctx, s.Source, stateApplied, exp, key); err != nil {
		return err
	}
	if ackJTI == "" {
		return nil
	}
	return s.Store.AddSignalMembers(ctx, s.Source, stateAcks, exp, ackJTI)
}

// OweAck implements State.
func (s *StoreState) OweAck(ctx context.Context, jti string) error {
	return s.Store.AddSignalMembers(ctx, s.Source, stateAcks, s.expires(), jti)
}

// PendingAcks implements State.
func (s *StoreState) PendingAcks(ctx context.Context) ([]string, error) {
	return s.Store.SignalMembers(ctx, s.Source, stateAcks)
}

// Acknowledged implements State.
func (s *StoreState) Acknowledged(ctx context.Context, jtis []string) error {
	return s.Store.RemoveSignalMembers(ctx, s.Source, stateAcks, jtis...)
}
