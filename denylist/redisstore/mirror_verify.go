package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// verifyLoop verifies every VerifyEvery beside the tail loops, so that
// the reads (and the propagation of revocations) do not wait for it: a
// verify is several round trips, one per partition and more. A reload it
// starts drops the reads begun before (gen); a failure makes the tail loops
// verify before they read on.
func (m *MirrorStore) verifyLoop(ctx context.Context) {
	everyTick(ctx, max(m.opts.VerifyEvery/4, time.Millisecond), func() {
		if err := m.maybeVerify(ctx, false, true); err != nil && ctx.Err() == nil {
			m.mustVerify.Store(true)
		}
	})
}

// maybeVerify verifies (see verify) when force is set, after a
// reconnection, while the denylist is unproven, after a failed periodic
// verify, or, with periodic, when the last verify is VerifyEvery old; one
// at a time.
func (m *MirrorStore) maybeVerify(ctx context.Context, force, periodic bool) error {
	due := func() bool {
		return force || m.reconnected.Load() || !m.proven.Load() || m.mustVerify.Load() ||
			periodic && m.since()-time.Duration(m.lastVerify.Load()) >= m.opts.VerifyEvery
	}
	if !due() {
		return nil
	}
	m.verifyMu.Lock()
	defer m.verifyMu.Unlock()
	if !due() { // another loop verified meanwhile
		return nil
	}
	if err := m.verify(ctx); err != nil {
		return err
	}
	m.mustVerify.Store(false)
	m.lastVerify.Store(int64(m.since()))
	return nil
}

// verify checks that Redis still holds everything the mirror has seen and
// everything after it, and reloads (writing back first, if Redis lost
// data) when not.
func (m *MirrorStore) verify(ctx context.Context) error {
	if err := m.verifyData(ctx); err != nil {
		return err
	}
	return m.prove(ctx)
}

// verifyData is verify but for the proof.
func (m *MirrorStore) verifyData(ctx context.Context) error {
	m.reconnected.Store(false) // a reconnection from here on calls for another check
	trimmed := false
	for p := range m.parts {
		wb, reload, err := m.verifyPartition(ctx, p)
		if err != nil {
			return err
		}
		if wb {
			return m.reload(ctx, true)
		}
		trimmed = trimmed || reload
	}
	if trimmed {
		m.logger.Info("events the denylist mirror had not seen were trimmed from the stream: reloading",
			zap.String("redis", m.rs.where))
		return m.reload(ctx, false)
	}
	return nil
}

// verifyPartition checks one partition: writeBack when Redis lost data the
// mirror holds, reload when events the mirror has not seen were trimmed.
func (m *MirrorStore) verifyPartition(ctx context.Context, p int) (writeBack, reload bool, err error) {
	epoch, whole, err := m.rs.epochState(ctx, m.tail, p)
	if err != nil {
		return false, false, err
	}
	m.mu.Lock()
	mp := m.parts[p]
	m.mu.Unlock()
	lastID, seen, counted := mp.lastID, mp.seen, mp.counted
	if epoch != "" && !whole && sameEpoch(epoch, mp.epoch) {
		// Keys lost under the epoch the mirror loaded (evicted): a new
		// epoch tells every instance, as a Redis restarted empty would.
		m.rs.noteLost(p, epoch)
		if _, err := m.rs.renewEpoch(ctx, m.tail, p, epoch, false); err != nil {
			return false, false, err
		}
		return true, false, nil
	}
	if epoch != "" && whole && !epochHasSentinel(epoch) && sameEpoch(epoch, mp.epoch) {
		_, _ = m.rs.renewEpoch(ctx, m.tail, p, epoch, true) // give an earlier release's epoch sentinels (best effort)
	}
	if epoch == "" {
		// The reload's ensureEpoch tells an eviction of the epoch (the
		// events stream stayed: keys lost) from a restart or a flush.
		kept, err := m.rs.eventsKept(ctx, m.tail, p)
		if err != nil {
			return false, false, err
		}
		if kept {
			return true, false, nil
		}
	}
	if !sameEpoch(epoch, mp.epoch) {
		m.logger.Warn("redis lost the denylist (restarted empty or flushed): writing back the entries this instance holds",
			zap.String("redis", m.rs.where), zap.Int("partition", p))
		return true, false, nil
	}
	info, exists, err := m.streamInfo(ctx, p)
	if err != nil {
		return false, false, err
	}
	counts := counted && info.EntriesAdded > 0 // Redis >= 7, and a count since the load
	last, _ := compareStreamIDs(info.LastGeneratedID, lastID)
	switch {
	case !exists && lastID != "0-0", last < 0, counts && info.EntriesAdded < seen:
		// The stream is gone or behind the mirror: an older copy of the
		// data came back (a snapshot, a lagging replica promoted).
		m.logger.Warn("redis holds an older copy of the denylist than this instance saw: writing back the entries this instance holds",
			zap.String("redis", m.rs.where), zap.Int("partition", p), zap.String("last_seen_event", lastID), zap.String("stream_last_event", info.LastGeneratedID))
		return true, false, nil
	case last == 0:
		return false, false, nil // no event since the last one applied
	case counts:
		// The events after lastID are the newest EntriesAdded-seen:
		// all still there unless trimmed.
		if info.Length >= info.EntriesAdded-seen {
			return false, false, nil
		}
	default:
		// No count (Redis < 7): the stream still holds lastID's
		// successors if its first entry is not after lastID.
		if first, _ := compareStreamIDs(info.FirstEntry.ID, lastID); info.Length > 0 && first <= 0 {
			return false, false, nil
		}
	}
	return false, true, nil
}

// reload loads every entry into a new index and swaps it in. With
// writeBack, it first writes every live entry the mirror holds into Redis.
func (m *MirrorStore) reload(ctx context.Context, writeBack bool) error {
	start := time.Now()
	// The epochs first: should Redis lose its data again while the entries
	// are written back or loaded, an epoch goes with it, and the check
	// after the load below notices.
	parts := make([]mirrorPart, len(m.parts))
	for p := range parts {
		epoch, err := m.ensureEpoch(ctx, p)
		if err != nil {
			return err
		}
		parts[p].epoch = epoch
	}
	if writeBack {
		done, err := m.register(ctx)
		if err != nil {
			return err
		}
		defer done()
		if err := m.writeBack(ctx); err != nil {
			return err
		}
	}
	// The streams' positions before the load: the events after them are
	// read afterwards, so nothing written during the load is missed.
	for p := range parts {
		info, exists, err := m.streamInfo(ctx, p)
		if err != nil {
			return err
		}
		// A stream that does not exist has had no event, whatever the
		// version; Redis < 7 does not count them (entries-added 0).
		parts[p].lastID, parts[p].seen = info.LastGeneratedID, info.EntriesAdded
		parts[p].counted = !exists || info.EntriesAdded > 0
	}
	n, err := m.rs.Entries(ctx)
	if err != nil {
		return err
	}
	fresh := denylist.NewIndexSize(int(n))
	m.mu.Lock()
	m.loading = fresh
	m.mu.Unlock()
	err = m.rs.loadConcurrently(ctx, func(es []denylist.Entry) { fresh.Put(es...) })
	for p := 0; err == nil && p < len(parts); p++ {
		// Swap only what was loaded under the epochs written before: a
		// Redis that lost its data again meanwhile would make the mirror
		// drop what it is to write back.
		var now string
		if now, err = m.getEpoch(ctx, p); err == nil && !sameEpoch(now, parts[p].epoch) {
			err = m.rs.unavailable(errors.New("redis lost its data again during the load"))
		}
	}
	m.mu.Lock()
	m.loading = nil
	old := m.ix.Load()
	if err == nil {
		m.ix.Store(fresh)
		m.parts = parts
		m.gen++
	}
	m.mu.Unlock()
	if err != nil {
		return err
	}
	m.notifyReloaded(old, fresh)
	m.reloads.Add(1)
	m.logger.Info("denylist mirror loaded", zap.String("redis", m.rs.where), zap.Int("entries", fresh.Len()),
		zap.Duration("took", time.Since(start)), zap.Bool("wrote_back", writeBack))
	return nil
}

// notifyReloaded tells the listeners (live connections) of the live
// entries a reload found that the index it replaced did not hold: the
// revocations whose events the mirror never read (trimmed from the stream,
// or lost with a Redis that restarted). Batched, outside every lock.
func (m *MirrorStore) notifyReloaded(old, fresh *denylist.Index) {
	if !m.revoked.Listening() {
		return
	}
	now := m.rs.now().Unix()
	var batch []denylist.Entry
	fresh.Range(func(e denylist.Entry) bool {
		if !e.Live(now) {
			return true
		}
		if had, ok := old.Get(e.Key, now); ok && had == e {
			return true // held already: its listeners were told
		}
		batch = append(batch, e)
		return true
	})
	for len(batch) > 0 {
		n := min(len(batch), 4096)
		m.revoked.Notify(batch[:n])
		batch = batch[n:]
	}
}

// writeBack writes every live entry of the mirror into Redis (merged with
// whatever Redis holds again by now).
func (m *MirrorStore) writeBack(ctx context.Context) error {
	now := m.rs.now().Unix()
	var held []denylist.Entry
	m.ix.Load().Range(func(e denylist.Entry) bool {
		if e.Live(now) {
			held = append(held, e)
		}
		return true
	})
	if err := m.rs.Revoke(ctx, held...); err != nil {
		return err
	}
	m.writeBacks.Add(1)
	m.logger.Warn("wrote the denylist mirror's entries back into redis", zap.String("redis", m.rs.where), zap.Int("entries", len(held)))
	return nil
}

// getEpoch returns the value of partition p's epoch key, "" when it is
// missing. The epoch is a random value written when a mirror finds none,
// which disappears with everything else when Redis (the partition's
// primary) loses its data.
func (m *MirrorStore) getEpoch(ctx context.Context, p int) (string, error) {
	v, err := m.tail.Get(ctx, m.rs.parts[p].epochKey()).Result()
	if errors.Is(err, redis.Nil) {
		return "", nil
	}
	if err != nil {
		return "", m.rs.unavailable(fmt.Errorf("reading the epoch: %w", err))
	}
	return v, nil
}

// ensureEpoch returns partition p's epoch, reading it first and writing
// only when it must (a full Redis refuses writes, not reads): a new one
// with sentinels when there is none (the first mirror to write it wins) or
// when its sentinels are gone (keys lost: noteLost); an epoch of an
// earlier release is given sentinels when Redis takes the write.
func (m *MirrorStore) ensureEpoch(ctx context.Context, p int) (string, error) {
	epoch, whole, err := m.rs.epochState(ctx, m.tail, p)
	switch {
	case err != nil:
		return "", err
	case epoch != "" && whole && epochHasSentinel(epoch):
		return epoch, nil
	case epoch != "" && whole: // an earlier release's epoch
		if up, err := m.rs.renewEpoch(ctx, m.tail, p, epoch, true); err == nil {
			return up, nil
		}
		return epoch, nil
	case epoch != "":
		m.rs.noteLost(p, epoch)
	default:
		if kept, err := m.rs.eventsKept(ctx, m.tail, p); err != nil {
			return "", err
		} else if kept {
			m.rs.noteLost(p, "")
		}
	}
	return m.rs.renewEpoch(ctx, m.tail, p, epoch, false)
}

// streamInfo returns XINFO STREAM of partition p's events stream; exists
// is false (and info the empty stream's) when there is no stream.
func (m *MirrorStore) streamInfo(ctx context.Context, p int) (info *redis.XInfoStream, exists bool, err error) {
	info, err = m.tail.XInfoStream(ctx, m.rs.parts[p].eventsKey).Result()
	if err != nil && strings.Contains(err.Error(), "no such key") {
		return &redis.XInfoStream{LastGeneratedID: "0-0"}, false, nil
	}
	if err != nil {
		return nil, false, m.rs.unavailable(fmt.Errorf("XINFO STREAM: %w", err))
	}
	if info.LastGeneratedID == "" {
		info.LastGeneratedID = "0-0"
	}
	return info, true, nil
}
