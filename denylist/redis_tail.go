package denylist

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// tailBlock is how long one read of the events stream by a direct store's
// tail waits for an event.
const tailBlock = time.Second

// eventTail reads a direct RedisStore's events stream, from the first
// OnRevoked to Close, to tell listeners what other instances revoke (a
// MirrorStore reads the stream anyway and needs no tail).
type eventTail struct {
	mu      sync.Mutex
	started bool
	stopped bool
	cancel  context.CancelFunc
	done    chan struct{}
}

// OnRevoked implements RevokedNotifier for a store used directly (check
// mode direct): the first call starts reading the events stream on a
// connection of its own, so fn is told of every entry any instance stores
// from then on, within a round trip of its event. Close stops the reading.
func (s *RedisStore) OnRevoked(fn func([]Entry)) (remove func()) {
	remove = s.revoked.add(fn)
	t := &s.tail
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.started && !t.stopped {
		t.started = true
		ctx, cancel := context.WithCancel(context.Background())
		t.cancel, t.done = cancel, make(chan struct{})
		go s.runTail(ctx, t.done)
	}
	return remove
}

// stopTail stops the tail, if it runs, and waits for it.
func (s *RedisStore) stopTail() {
	t := &s.tail
	t.mu.Lock()
	t.stopped = true
	cancel, done := t.cancel, t.done
	t.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// runTail reads the events stream from its end at start, and tells the
// listeners of every entry added; after a failure it waits and reads on
// from the last event seen.
func (s *RedisStore) runTail(ctx context.Context, done chan struct{}) {
	defer close(done)
	uo := s.opts.universalOptions()
	uo.PoolSize = 1
	uo.MaxRetries = -1
	client := s.opts.newClient(uo)
	defer client.Close()
	wait := s.opts.ReadTimeout
	if wait <= 0 {
		wait = DefaultRedisReadTimeout
	}
	last := ""
	for ctx.Err() == nil {
		err := s.readTail(ctx, client, &last, wait)
		if err != nil && ctx.Err() == nil {
			s.logger.Warn("reading the redis denylist events stream for live connections; retrying",
				zap.String("redis", s.where), zap.Error(err))
			select {
			case <-ctx.Done():
			case <-time.After(DefaultMirrorRetry):
			}
		}
	}
}

// readTail reads once: the stream's last ID when last is "", else the
// events after last.
func (s *RedisStore) readTail(ctx context.Context, client redis.UniversalClient, last *string, wait time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, tailBlock+wait)
	defer cancel()
	if *last == "" {
		msgs, err := client.XRevRangeN(rctx, s.eventsKey, "+", "-", 1).Result()
		if err != nil {
			return err
		}
		*last = "0-0"
		if len(msgs) > 0 {
			*last = msgs[0].ID
		}
	}
	streams, err := client.XRead(rctx, &redis.XReadArgs{Streams: []string{s.eventsKey, *last}, Count: mirrorReadCount, Block: tailBlock}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(streams) == 0 || len(streams[0].Messages) == 0 {
		return nil
	}
	msgs := streams[0].Messages
	added := make([]Entry, 0, len(msgs))
	for _, msg := range msgs {
		if op, e, err := ParseEvent(msg); err == nil && op == EventAdd {
			added = append(added, e)
		}
	}
	*last = msgs[len(msgs)-1].ID
	s.revoked.notify(added)
	return nil
}
