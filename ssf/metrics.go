package ssf

import (
	"sync"
	"time"
)

// Metrics receives what a receiver counts; the glue exports it (as
// Prometheus counters, gauges and a histogram). Its methods are called
// from the receiver's goroutines and must be safe for concurrent use and
// quick.
type Metrics interface {
	// EventReceived counts an event of type typ in a verified SET.
	EventReceived(typ string)
	// EventApplied counts an event whose cut-offs were stored.
	EventApplied(typ string)
	// EventIgnored counts an event acknowledged without a cut-off, and why.
	EventIgnored(typ, reason string)
	// SETRejected counts a SET refused (bad signature, audience, replay,
	// ...), by its RFC 8935 error code.
	SETRejected(code string)
	// StreamStatus is the stream's status: enabled, paused or disabled.
	StreamStatus(status string)
	// PollLag is, for an event applied from a poll, the time from its SET's
	// iat to the return of the callback that stored it.
	PollLag(d time.Duration)
}

// Counters is a Metrics in memory: for tests, and for a glue that reads
// a snapshot rather than keep its own.
type Counters struct {
	mu       sync.Mutex
	received map[string]int
	applied  map[string]int
	ignored  map[string]int
	rejected map[string]int
	status   string
	lags     []time.Duration
}

// NewCounters returns zeroed Counters.
func NewCounters() *Counters {
	return &Counters{received: map[string]int{}, applied: map[string]int{}, ignored: map[string]int{}, rejected: map[string]int{}}
}

// EventReceived implements Metrics.
func (c *Counters) EventReceived(typ string) { c.add(c.received, typ) }

// EventApplied implements Metrics.
func (c *Counters) EventApplied(typ string) { c.add(c.applied, typ) }

// EventIgnored implements Metrics; the count is by type alone.
func (c *Counters) EventIgnored(typ, _ string) { c.add(c.ignored, typ) }

// SETRejected implements Metrics.
func (c *Counters) SETRejected(code string) { c.add(c.rejected, code) }

// StreamStatus implements Metrics.
func (c *Counters) StreamStatus(s string) {
	c.mu.Lock()
	c.status = s
	c.mu.Unlock()
}

// PollLag implements Metrics.
func (c *Counters) PollLag(d time.Duration) {
	c.mu.Lock()
	c.lags = append(c.lags, d)
	c.mu.Unlock()
}

func (c *Counters) add(m map[string]int, k string) {
	c.mu.Lock()
	m[k]++
	c.mu.Unlock()
}

// Received, Applied, Ignored and Rejected return a count.
func (c *Counters) Received(typ string) int { return c.get(c.received, typ) }

// Applied returns the events of typ applied.
func (c *Counters) Applied(typ string) int { return c.get(c.applied, typ) }

// Ignored returns the events of typ ignored.
func (c *Counters) Ignored(typ string) int { return c.get(c.ignored, typ) }

// Rejected returns the SETs rejected with code.
func (c *Counters) Rejected(code string) int { return c.get(c.rejected, code) }

// Status returns the last stream status.
func (c *Counters) Status() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.status
}

// Lags returns the poll lags seen.
func (c *Counters) Lags() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.lags...)
}

func (c *Counters) get(m map[string]int, k string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m[k]
}

// noMetrics is the Metrics of a receiver configured without any.
type noMetrics struct{}

func (noMetrics) EventReceived(string)        {}
func (noMetrics) EventApplied(string)         {}
func (noMetrics) EventIgnored(string, string) {}
func (noMetrics) SETRejected(string)          {}
func (noMetrics) StreamStatus(string)         {}
func (noMetrics) PollLag(time.Duration)       {}
