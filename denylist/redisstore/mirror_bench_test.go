package redisstore

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// preloadRedis writes n live entries straight into the entries hash of the
// default prefix, a thousand per HSET, pipelined: how a benchmark gets a
// million revocations into Redis in seconds. No events are written: a
// mirror loads the hash.
func preloadRedis(tb testing.TB, srv *redistest.Server, n int, expires int64) {
	tb.Helper()
	c := srv.Client()
	ctx := context.Background()
	es := storetest.BenchEntries(n)
	pipe := c.Pipeline()
	for start := 0; start < n; start += 1000 {
		batch := es[start:min(n, start+1000)]
		args := make([]any, 0, 2*len(batch))
		for _, e := range batch {
			e.Expires = expires
			args = append(args, e.Key.String(), e.Value())
		}
		pipe.HSet(ctx, "{trv}:entries", args...)
		if pipe.Len() >= 50 {
			if _, err := pipe.Exec(ctx); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if _, err := pipe.Exec(ctx); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkMirrorLoad reports how long an instance's mirror takes to load
// n entries at start (load-s) and the heap it then holds per entry
// (bytes/entry: runtime.MemStats.HeapAlloc after GC, before and after). Run
// with -benchtime 1x: one load per size. The deployment exists before the
// entries are written (a first mirror made its epoch, and waited Settle),
// as it does wherever a denylist holds n entries: the very first start of a
// deployment, on an empty denylist, is the one that waits Settle.
func BenchmarkMirrorLoad(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			srv := redistest.Start(b)
			first, err := OpenRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}})
			if err != nil {
				b.Fatal(err)
			}
			m, err := OpenMirror(context.Background(), first, MirrorOptions{})
			if err != nil {
				b.Fatal(err)
			}
			m.Close() // and first
			preloadRedis(b, srv, n, time.Now().Add(time.Hour).Unix())
			var took time.Duration
			var perEntry float64
			for i := 0; i < b.N; i++ {
				rs, err := OpenRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}})
				if err != nil {
					b.Fatal(err)
				}
				before := storetest.HeapAlloc()
				start := time.Now()
				m, err := OpenMirror(context.Background(), rs, MirrorOptions{})
				took = time.Since(start)
				if err != nil {
					b.Fatal(err)
				}
				if m.Len() != n {
					b.Fatalf("mirror holds %d entries, want %d", m.Len(), n)
				}
				perEntry = float64(storetest.HeapAlloc()-before) / float64(n)
				runtime.KeepAlive(m)
				m.Close()
			}
			b.ReportMetric(took.Seconds(), "load-s")
			b.ReportMetric(perEntry, "bytes/entry")
		})
	}
}
