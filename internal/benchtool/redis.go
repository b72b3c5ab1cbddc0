package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// redisServer is a redis-server the tool started (no persistence), with a
// client on it.
type redisServer struct {
	*proc
	addr   string
	client *redis.Client
}

// startRedis starts a redis-server on a free port and waits until it
// answers PING.
func (b *bench) startRedis(name string) (*redisServer, error) {
	port, dir, err := b.portAndDir(name)
	if err != nil {
		return nil, err
	}
	p, err := b.start(name, []string{"redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", dir}, nil)
	if err != nil {
		return nil, err
	}
	r := &redisServer{proc: p, addr: "127.0.0.1:" + strconv.Itoa(port)}
	r.client = redis.NewClient(&redis.Options{Addr: r.addr})
	deadline := time.Now().Add(10 * time.Second)
	for r.client.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s on %s does not answer PING:\n%s", name, r.addr, p.logTail())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r, nil
}

// preload writes n live revocations straight into the entries hash (a
// thousand per HSET, pipelined) and returns how long it took.
func (r *redisServer) preload(n int) (time.Duration, error) {
	start := time.Now()
	ctx := context.Background()
	if err := r.client.FlushAll(ctx).Err(); err != nil {
		return 0, err
	}
	expires := time.Now().Add(2 * time.Hour)
	pipe := r.client.Pipeline()
	args := make([]any, 0, 2000)
	for i := 0; i < n; i++ {
		var d denylist.Digest
		binary.LittleEndian.PutUint64(d[1:], uint64(i)*0x9e3779b97f4a7c15+1)
		binary.LittleEndian.PutUint64(d[8:], uint64(i))
		d[0] = byte(denylist.KindToken)
		e := denylist.NewEntry(denylist.Key{Kind: denylist.KindToken, Digest: d}, time.Now(), expires)
		args = append(args, e.Key.String(), e.Value())
		if len(args) == cap(args) || i == n-1 {
			pipe.HSet(ctx, "{trv}:entries", args...)
			args = make([]any, 0, 2000)
		}
		if pipe.Len() >= 50 || i == n-1 {
			if _, err := pipe.Exec(ctx); err != nil {
				return 0, err
			}
		}
	}
	return time.Since(start), nil
}

// runID is a random hex string that makes the tokens of one run distinct
// from any other run's.
func runID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
