package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// mirrorPart is what a mirror knows of one partition's events stream.
type mirrorPart struct {
	lastID  string // ID of the last event applied (or the stream's last before the load)
	seen    int64  // how many events the stream had ever received up to lastID...
	counted bool   // ...when known (Redis >= 7 counts them: XINFO STREAM entries-added)
	epoch   string // the value of the partition's epoch key the mirror loaded under
}

// tailGroup is a set of partitions whose streams one XREAD reads: all of
// them on a standalone server or through Sentinel; one per group on a
// Cluster, which refuses a command on keys of several hash slots
// (CROSSSLOT), so every partition gets its own blocking read there.
type tailGroup struct {
	parts      []int
	lastAnswer atomic.Int64 // when Redis last proved these partitions fresh, ns after base; 0: never
}

// run runs a tail loop per group of partitions (one on a standalone server
// or through Sentinel) until ctx ends.
func (m *MirrorStore) run(ctx context.Context) {
	defer close(m.done)
	m.lastVerify.Store(int64(m.since()))
	var wg sync.WaitGroup
	for g := range m.groups {
		wg.Go(func() { m.runGroup(ctx, &m.groups[g]) })
	}
	wg.Go(func() { m.verifyLoop(ctx) })
	wg.Go(func() {
		everyTick(ctx, m.opts.PurgeEvery, func() {
			if n := m.ix.Load().Purge(m.rs.now().Unix()); n > 0 {
				m.logger.Debug("purged expired entries from the denylist mirror", zap.Int("entries", n))
			}
		})
	})
	wg.Wait()
}

// runGroup is a tail loop: verify when needed, read, apply, repeat; on
// failure wait Retry and verify again.
func (m *MirrorStore) runGroup(ctx context.Context, g *tailGroup) {
	failing := false
	for ctx.Err() == nil {
		err := m.maybeVerify(ctx, failing, false)
		if err == nil {
			err = m.read(ctx, true, g)
		}
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failing = true
			m.noteError(err)
			select {
			case <-ctx.Done():
			case <-time.After(m.opts.Retry):
			}
			continue
		}
		if failing {
			failing = false
			m.noteRecovered()
		}
	}
}

// read reads the events of g's partitions after the last one applied and
// applies them; with block, it waits up to Poll for one. An answer that
// holds every pending event proves g's partitions fresh.
func (m *MirrorStore) read(ctx context.Context, block bool, g *tailGroup) error {
	streams := make([]string, 2*len(g.parts))
	m.mu.Lock()
	gen := m.gen
	for i, p := range g.parts {
		streams[i] = m.rs.parts[p].eventsKey
		streams[len(g.parts)+i] = m.parts[p].lastID
	}
	m.mu.Unlock()
	args := &redis.XReadArgs{Streams: streams, Count: mirrorReadCount, Block: -1}
	if block {
		args.Block = m.opts.Poll
	}
	wait := m.rs.opts.ReadTimeout
	if wait <= 0 {
		wait = DefaultRedisReadTimeout
	}
	rctx, cancel := context.WithTimeout(ctx, m.opts.Poll+wait)
	res, err := m.tail.XRead(rctx, args).Result()
	cancel()
	answered := m.since()
	if err != nil && !errors.Is(err, redis.Nil) { // Nil: no event within Poll
		return m.rs.unavailable(fmt.Errorf("reading the events stream: %w", err))
	}
	if m.reconnected.Load() {
		// Answered on a new connection: perhaps by a server that lost
		// what the mirror holds. Verify first, then read again.
		return nil
	}
	m.rs.breaker.answered()
	if m.apply(gen, res) {
		g.lastAnswer.Store(int64(answered))
	}
	return nil
}

// apply applies events read from the streams, in order, unless the mirror
// reloaded since the read began (gen): the next read then starts from the
// reload's positions. It reports whether the read held every event
// pending (no stream filled its Count).
func (m *MirrorStore) apply(gen uint64, res []redis.XStream) (complete bool) {
	added := m.revoked.Batch()                      // nil when nobody listens (live connections)
	defer func() { m.revoked.NotifyBatch(added) }() // after the lock is released
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.gen != gen {
		added = nil
		return false
	}
	complete = true
	indexes := m.indexes()
	for _, st := range res {
		msgs := st.Messages
		p, ok := m.rs.partOf[st.Stream]
		if !ok || len(msgs) == 0 {
			continue
		}
		if len(msgs) >= mirrorReadCount {
			complete = false
		}
		for _, msg := range msgs {
			op, e, err := ParseEvent(msg)
			if err != nil {
				m.logger.Warn("unreadable event in the redis denylist stream", zap.Bool("kept_as_revoking", keyRead(err)), zap.Error(err))
			}
			switch {
			case !keyRead(err):
			case op == EventAdd:
				for _, ix := range indexes {
					ix.Put(e)
				}
				added.Add(e)
			case op == EventDel:
				for _, ix := range indexes {
					ix.Delete(e.Key)
				}
			}
		}
		last := msgs[len(msgs)-1].ID
		if ms, _, ok := parseStreamID(last); ok {
			m.eventLag.Store(int64(time.Since(time.UnixMilli(int64(ms)))))
		}
		m.events.Add(int64(len(msgs)))
		m.parts[p].lastID = last
		m.parts[p].seen += int64(len(msgs))
	}
	return complete
}

// noteError records a failure of the tail and logs it: at once the first
// time, then at most every mirrorErrorLogEvery.
func (m *MirrorStore) noteError(err error) {
	now := time.Now()
	m.mu.Lock()
	first := m.lastErr == ""
	if first {
		m.errSince = now
	}
	m.lastErr = err.Error()
	logIt := first || now.Sub(m.errLogged) >= mirrorErrorLogEvery
	if logIt {
		m.errLogged = now
	}
	since := m.errSince
	m.mu.Unlock()
	if logIt {
		age, _ := m.Freshness()
		m.logger.Warn("denylist mirror cannot read redis; checks past max_staleness ask redis directly",
			zap.Error(err), zap.Duration("failing_for", now.Sub(since)), zap.Duration("mirror_age", age))
	}
}

func (m *MirrorStore) noteRecovered() {
	m.mu.Lock()
	since := m.errSince
	m.lastErr = ""
	m.mu.Unlock()
	m.logger.Info("denylist mirror reads redis again", zap.Duration("failed_for", time.Since(since)))
}

// parseStreamID splits a stream ID "<ms>-<seq>".
func parseStreamID(id string) (ms, seq uint64, ok bool) {
	a, b, found := strings.Cut(id, "-")
	if !found {
		return 0, 0, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return ms, seq, err1 == nil && err2 == nil
}

// compareStreamIDs compares two stream IDs (-1, 0, +1); an empty ID is
// "0-0". ok is false when either is malformed.
func compareStreamIDs(a, b string) (cmp int, ok bool) {
	if a == "" {
		a = "0-0"
	}
	if b == "" {
		b = "0-0"
	}
	ams, aseq, aok := parseStreamID(a)
	bms, bseq, bok := parseStreamID(b)
	switch {
	case ams != bms:
		cmp = compareU64(ams, bms)
	default:
		cmp = compareU64(aseq, bseq)
	}
	return cmp, aok && bok
}

func compareU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
