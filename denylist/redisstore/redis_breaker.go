package redisstore

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// errRedisNotAnswering is the error of a check answered the fail mode at
// once, without asking Redis (readBreaker).
var errRedisNotAnswering = errors.New("redis did not answer a check within fail_timeout and has not answered since; one check at a time asks it again")

// readBreaker spares the checks of a store whose Redis stopped answering
// the wait for fail_timeout. Once a check's read (Check, Get) failed
// without an answer from Redis (fail_timeout passed, the pool gave no
// connection, the connection failed) and Redis answered nothing else
// since that read began (a slow Redis that answers others is not taken
// for a silent one), the breaker is open: one read at a
// time still asks Redis (the probe, bounded by fail_timeout as before) and
// the others fail at once, so the fail mode applies without waiting. Any
// answer from Redis (a read, the direct store's guard, a mirror's tail)
// closes it. Under a frozen Redis this keeps one read in flight instead of
// one per request (each a connection go-redis then closes and redials),
// and the requests' answers do not queue behind fail_timeout.
//
// A read whose caller gave up (the request's context done) or that Redis
// answered with an error reply (NOPERM, OOM: Redis is there) never opens
// it. The mirror's memory answers before any read, so a token it holds
// revoked is found whatever the breaker says, and max_staleness means
// what it did: only the reads it makes past max_staleness meet the
// breaker. It is off for a denylist partitioned over the nodes of a
// Redis Cluster, where one node's silence must not fail the checks the
// others answer: there each check waits fail_timeout, as before.
type readBreaker struct {
	off        bool         // set at open: never open
	open       atomic.Bool  // a read failed without an answer, none answered since
	probing    atomic.Bool  // a read is asking Redis while open
	lastAnswer atomic.Int64 // when Redis last answered, ns after breakerEpoch
}

// breakerEpoch is the origin of readBreaker's monotonic times.
var breakerEpoch = time.Now()

// enter reports whether a read may ask Redis, and whether it is the probe
// (then its leave must be called with probe true).
func (b *readBreaker) enter() (ask, probe bool) {
	if b.off || !b.open.Load() {
		return true, false
	}
	if b.probing.CompareAndSwap(false, true) {
		return true, true
	}
	return false, false
}

// leave records how a read that asked Redis went: began is when it
// began (time.Since(breakerEpoch)), err its error, ctx its caller's
// context (not the one bounded by fail_timeout), callerFirst whether the
// caller's deadline came before fail_timeout's (its read may then fail
// at that deadline a moment before ctx says it is done: the socket's
// deadline and the context's timer are two clocks).
func (b *readBreaker) leave(ctx context.Context, began time.Duration, probe, callerFirst bool, err error) {
	var reply redis.Error
	switch {
	case b.off:
	case err == nil || errors.Is(err, redis.Nil) || errors.As(err, &reply):
		b.answered()
	case ctx.Err() == nil && !callerFirst && b.lastAnswer.Load() < int64(began):
		b.open.Store(true)
	}
	if probe {
		b.probing.Store(false)
	}
}

// answered records that Redis answered (a read, or another call): the
// breaker closes.
func (b *readBreaker) answered() {
	now := int64(time.Since(breakerEpoch))
	for last := b.lastAnswer.Load(); last < now && !b.lastAnswer.CompareAndSwap(last, now); last = b.lastAnswer.Load() {
	}
	if b.open.Load() {
		b.open.Store(false)
	}
}

// boundedLookup is lookup bounded by FailTimeout, through the breaker.
func (s *RedisStore) boundedLookup(ctx context.Context, keys []denylist.Key) ([]denylist.Entry, []bool, bool, error) {
	ask, probe := s.breaker.enter()
	if !ask {
		return nil, nil, false, errRedisNotAnswering
	}
	began := time.Since(breakerEpoch)
	deadline, bounded := ctx.Deadline()
	callerFirst := bounded && time.Until(deadline) < s.opts.FailTimeout
	lctx, cancel := context.WithTimeout(ctx, s.opts.FailTimeout)
	defer cancel()
	entries, found, whole, err := s.lookup(lctx, keys)
	s.breaker.leave(ctx, began, probe, callerFirst, err)
	return entries, found, whole, err
}
