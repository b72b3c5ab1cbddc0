package redisstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
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
func (s *RedisStore) OnRevoked(fn func([]denylist.Entry)) (remove func()) {
	remove = s.revoked.Add(fn)
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

// runTail reads the events streams of every partition from their ends at
// start (one XREAD for all of them; one per partition on a Cluster, which
// refuses a command on keys of several hash slots), and tells the
// listeners of every entry added; after a failure it waits and reads on
// from the last events seen.
func (s *RedisStore) runTail(ctx context.Context, done chan struct{}) {
	defer close(done)
	groups := s.tailGroups()
	uo := s.opts.universalOptions()
	uo.PoolSize = len(groups)
	uo.MaxRetries = -1
	client := s.opts.newClient(uo)
	defer client.Close()
	wait := s.opts.ReadTimeout
	if wait <= 0 {
		wait = DefaultRedisReadTimeout
	}
	var wg sync.WaitGroup
	for _, parts := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			last := make([]string, len(parts)) // "": not read yet
			for ctx.Err() == nil {
				err := s.readTail(ctx, client, parts, last, wait)
				if err != nil && ctx.Err() == nil {
					s.logger.Warn("reading the redis denylist events stream for live connections; retrying",
						zap.String("redis", s.where), zap.Error(err))
					select {
					case <-ctx.Done():
					case <-time.After(DefaultMirrorRetry):
					}
				}
			}
		}()
	}
	wg.Wait()
}

// readTail reads once the streams of partitions parts: each one's last ID
// when its last is "", then the events after last.
func (s *RedisStore) readTail(ctx context.Context, client redis.UniversalClient, parts []int, last []string, wait time.Duration) error {
	rctx, cancel := context.WithTimeout(ctx, tailBlock+wait)
	defer cancel()
	streams := make([]string, 2*len(parts))
	for i, p := range parts {
		key := s.parts[p].eventsKey
		if last[i] == "" {
			msgs, err := client.XRevRangeN(rctx, key, "+", "-", 1).Result()
			if err != nil {
				return err
			}
			last[i] = "0-0"
			if len(msgs) > 0 {
				last[i] = msgs[0].ID
			}
		}
		streams[i], streams[len(parts)+i] = key, last[i]
	}
	res, err := client.XRead(rctx, &redis.XReadArgs{Streams: streams, Count: mirrorReadCount, Block: tailBlock}).Result()
	if errors.Is(err, redis.Nil) {
		return nil
	}
	if err != nil {
		return err
	}
	var added []denylist.Entry
	for _, st := range res {
		if len(st.Messages) == 0 {
			continue
		}
		for i, p := range parts {
			if s.parts[p].eventsKey == st.Stream {
				last[i] = st.Messages[len(st.Messages)-1].ID
			}
		}
		for _, msg := range st.Messages {
			if op, e, err := ParseEvent(msg); keyRead(err) && op == EventAdd {
				added = append(added, e)
			}
		}
	}
	s.revoked.Notify(added)
	return nil
}
