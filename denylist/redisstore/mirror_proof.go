package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// A mirror answers a check from memory alone only while it can prove the
// denylist whole: Redis restarted empty (or flushed, or failed over to an
// empty replica) holds none of the revocations made before, and a mirror
// that loads it then — a newly started instance — would let their tokens
// through until an older instance has written them back. So:
//
//   - the epoch key records when it was created (Redis's clock): an epoch
//     younger than MirrorOptions.Settle may be the first sign of a loss the
//     running instances have not noticed yet (they notice on their next
//     verify: at once after a reconnection, else within VerifyEvery);
//   - an instance that writes back registers in {prefix}:restoring for the
//     duration (renewed every 3s, lapsing 10s after its instance died),
//     and every mirror waits until no live registration is left;
//
// and until then a check that the mirror's memory does not answer fails
// with ErrUnavailable: the handler's fail mode applies (closed by
// default), never a silent "not revoked". On the first start of a new
// deployment this costs Settle once.

// DefaultMirrorSettle is the default of MirrorOptions.Settle.
const DefaultMirrorSettle = 2 * time.Second

// restoringTTL bounds how long the registration of an instance that died
// while writing back keeps the other mirrors unproven; a live one renews
// it every restoringBeat.
const (
	restoringTTL  = 10 * time.Second
	restoringBeat = 3 * time.Second
)

// restoringKey is the hash of instances writing back: field an instance
// ID, value the Unix ms until which the registration holds.
// It lives in the first partition.
func (s *RedisStore) restoringKey() string { return s.parts[0].tag + ":restoring" }

// newEpochValue is an epoch: a random value and the Unix ms (Redis's
// clock) it was created at.
func newEpochValue(random string, createdMs int64) string {
	return random + ":" + strconv.FormatInt(createdMs, 10)
}

// newEpoch is a new epoch with sentinels (redis_guard.go) created at
// createdMs: "s", 32 random hex digits, ":" and the time.
func newEpoch(createdMs int64) string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return newEpochValue("s"+hex.EncodeToString(b[:]), createdMs)
}

// epochCreated returns the creation time of an epoch value in Unix ms; 0
// for an epoch written by an older version (no time: taken as old).
func epochCreated(epoch string) int64 {
	_, ms, ok := strings.Cut(epoch, ":")
	if !ok {
		return 0
	}
	n, _ := strconv.ParseInt(ms, 10, 64)
	return n
}

// redisNowMs returns Redis's clock in Unix ms.
func (m *MirrorStore) redisNowMs(ctx context.Context) (int64, error) {
	t, err := m.tail.Time(ctx).Result()
	if err != nil {
		return 0, m.rs.unavailable(fmt.Errorf("TIME: %w", err))
	}
	return t.UnixMilli(), nil
}

// prove decides whether the denylist Redis holds can be trusted whole (see
// above) and records the answer for Check.
func (m *MirrorStore) prove(ctx context.Context) error {
	now, err := m.redisNowMs(ctx)
	if err != nil {
		return err
	}
	why := ""
	for p := 0; p < len(m.rs.parts) && why == ""; p++ {
		epoch, whole, err := m.rs.epochState(ctx, m.tail, p)
		if err != nil {
			return err
		}
		if created := epochCreated(epoch); epoch == "" {
			why = "redis holds no epoch (just restarted empty or flushed)"
		} else if !whole {
			why = "redis lost denylist keys (evicted?) while their epoch stayed"
		} else if age := time.Duration(now-created) * time.Millisecond; created > 0 && age < m.opts.Settle {
			why = fmt.Sprintf("the denylist epoch is %s old: waiting %s for running instances to write back what redis may have lost", age.Round(time.Millisecond), m.opts.Settle)
		}
	}
	if why == "" {
		regs, err := m.tail.HGetAll(ctx, m.rs.restoringKey()).Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return m.rs.unavailable(fmt.Errorf("reading %s: %w", m.rs.restoringKey(), err))
		}
		for id, until := range regs {
			if ms, _ := strconv.ParseInt(until, 10, 64); ms > now {
				why = "instance " + id + " is writing back the revocations redis lost"
				break
			}
		}
	}
	was := m.proven.Load()
	m.unprovenWhy.Store(&why)
	m.proven.Store(why == "")
	switch {
	case was && why != "":
		m.logger.Warn("denylist mirror cannot prove the denylist whole: checks it cannot answer from memory get the fail mode", zap.String("why", why))
	case !was && why == "" && m.reloads.Load() > 0:
		m.logger.Info("denylist mirror proven whole again")
	}
	return nil
}

// errUnproven is the error of a check the mirror's memory cannot answer
// while the denylist is not proven whole.
func (m *MirrorStore) errUnproven() error {
	why := "not verified yet"
	if p := m.unprovenWhy.Load(); p != nil && *p != "" {
		why = *p
	}
	return fmt.Errorf("%w: %s: %s", denylist.ErrUnavailable, m.rs.where, why)
}

// register records in Redis that this instance is writing back; the
// returned func removes the record.
func (m *MirrorStore) register(ctx context.Context) (func(), error) {
	now, err := m.redisNowMs(ctx)
	if err != nil {
		return nil, err
	}
	key := m.rs.restoringKey()
	if err := m.tail.HSet(ctx, key, m.id, now+restoringTTL.Milliseconds()).Err(); err != nil {
		return nil, m.rs.unavailable(fmt.Errorf("registering the write-back: %w", err))
	}
	stop, beating := make(chan struct{}), make(chan struct{})
	go func() { // renew while writing back: a registration outlives its instance by restoringTTL at most
		defer close(beating)
		t := time.NewTicker(restoringBeat)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				if now, err := m.redisNowMs(ctx); err == nil {
					_ = m.tail.HSet(ctx, key, m.id, now+restoringTTL.Milliseconds()).Err()
				}
			}
		}
	}()
	return func() {
		close(stop)
		<-beating
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = m.tail.HDel(cctx, key, m.id).Err()
	}, nil
}

// Ready reports whether the mirror answers checks from memory alone: fresh
// and proven whole; why says what is missing.
func (m *MirrorStore) Ready() (ready bool, why string) {
	if !m.proven.Load() {
		return false, m.errUnproven().Error()
	}
	if ok, why := m.rs.Ready(); !ok {
		return false, why
	}
	if age, fresh := m.Freshness(); !fresh {
		return false, fmt.Sprintf("the mirror is %s behind redis (max_staleness %s)", age.Round(time.Millisecond), m.opts.MaxStaleness)
	}
	return true, ""
}

// awaitProof waits, at most Settle and a little, for the denylist to be
// proven whole: a newly started instance then serves from a proven mirror
// rather than failing its first checks.
func (m *MirrorStore) awaitProof(ctx context.Context) {
	deadline := time.Now().Add(m.opts.Settle + time.Second)
	for !m.proven.Load() && time.Now().Before(deadline) {
		if !denylist.Sleep(ctx, 50*time.Millisecond) || m.prove(ctx) != nil {
			return
		}
	}
}
