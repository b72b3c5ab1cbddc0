package redisstore

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// TestScale is `make bench-scale` (issue 14): too slow for `go test` or
// `make bench`, it runs only with TRV_SCALE set, to the number of live
// revocations to measure at (e.g. 1000000, 10000000), and prints a
// Markdown report. It starts its own redis-server processes (a 3-primary
// cluster and a standalone server) on free loopback ports and measures:
//
//   - revocation throughput (RedisStore.Revoke of one entry, as one
//     revocation call stores, from 64 goroutines) through a cluster with
//     one partition (one primary takes every write) and with three (each
//     primary takes a third: its EVALSHA count is printed);
//   - Redis memory per live revocation (INFO used_memory before and after
//     the entries were stored through Revoke, events stream included), and
//     the alternatives of issue 14 written straight into a server;
//   - the mirror's heap per entry and load time;
//   - the compact layout with no sizing option growing from 10^3 to n live
//     revocations (memory per live revocation at each power of ten), then
//     shrinking back to 10^3 as they expire;
//   - the compact layout over three partitions of the 3-primary cluster:
//     memory per primary, the mirror's load from the three;
//   - propagation from one mirror's Revoke returning to another mirror's
//     index holding the entry (and, apart, from the call's start).
func TestScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("TRV_SCALE"))
	if n <= 0 {
		t.Skip("TRV_SCALE is not set: run `make bench-scale`")
	}
	only := os.Getenv("TRV_SCALE_ONLY") // comma-separated sections; all when empty
	want := func(s string) bool { return only == "" || strings.Contains(","+only+",", ","+s+",") }
	var report strings.Builder
	fmt.Fprintf(&report, "## make bench-scale (TRV_SCALE=%d, %d CPUs, %s)\n\n", n, runtime.NumCPU(), time.Now().UTC().Format(time.RFC3339))
	defer func() { t.Log("\n" + report.String()) }()

	if want("throughput") {
		scaleThroughput(t, &report)
	}
	if want("layouts") {
		scaleLayouts(t, &report, min(n, 1_000_000))
	}
	if want("memory") {
		scaleMemory(t, &report, n, LayoutLegacy)
	}
	if want("compact") {
		scaleMemory(t, &report, n, LayoutCompact)
	}
	if want("growth") {
		scaleGrowth(t, &report, n)
	}
	if want("cluster") {
		scaleClusterMemory(t, &report, n)
	}
	if want("propagation") {
		scalePropagation(t, &report)
	}
}

// scaleThroughput measures revocations per second through 1 and 3
// partitions of a 3-primary cluster.
func scaleThroughput(t *testing.T, w *strings.Builder) {
	cl := redistest.StartCluster(t, 3, 0)
	ctx := context.Background()
	fmt.Fprintf(w, "### Revocation throughput, 3-primary cluster\n\n| layout | partitions | revocations/s measured | EVALSHA calls per primary (µs per call) | revocations/s the primaries can take (busiest primary at 100%% CPU) |\n|---|---|---|---|---|\n")
	var rates [4]float64
	for i, run := range []struct {
		layout string
		parts  int
	}{{LayoutLegacy, 1}, {LayoutLegacy, 3}, {LayoutCompact, 1}, {LayoutCompact, 3}} {
		parts := run.parts
		s, err := OpenRedis(ctx, RedisOptions{Addrs: cl.Seeds(), Cluster: true, Partitions: parts, Layout: run.layout, KeyPrefix: fmt.Sprintf("tp%s%d", run.layout, parts), PoolSize: 64})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range cl.Primaries {
			p.Client().ConfigResetStat(ctx)
		}
		var done atomic.Int64
		d := 5 * time.Second
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for g := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := 0; time.Now().Before(deadline); j++ {
					e := scaleEntry(g<<32|j, time.Now().Unix())
					if err := s.Revoke(ctx, e); err != nil {
						t.Error(err)
						return
					}
					done.Add(1)
				}
			}()
		}
		wg.Wait()
		rates[i] = float64(done.Load()) / d.Seconds()
		var per []string
		busiest := 0.0
		for _, p := range cl.Primaries {
			st := p.Client().Info(ctx, "commandstats").Val()
			calls, usec := cmdStat(st, "cmdstat_evalsha")
			per = append(per, fmt.Sprintf("%d (%.1f µs)", calls, usec))
			busiest = max(busiest, float64(calls)*usec)
		}
		// What the primaries could take were the client not sharing
		// their CPUs: the busiest primary saturates first.
		capacity := float64(done.Load()) / (busiest / 1e6)
		fmt.Fprintf(w, "| %s | %d | %.0f | %s | %.0f |\n", run.layout, parts, rates[i], strings.Join(per, " / "), capacity)
		s.Close()
	}
	fmt.Fprintf(w, "\nratio 3 partitions / 1, measured: legacy **%.2f**, compact **%.2f** (the client and the three redis-server processes share the machine's %d CPUs)\n\n", rates[1]/rates[0], rates[3]/rates[2], runtime.NumCPU())
}

// cmdStat returns the calls and usec_per_call of a commandstats line.
func cmdStat(info, cmd string) (calls int64, usecPerCall float64) {
	for _, l := range strings.Split(info, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), cmd+":")
		if !ok {
			continue
		}
		for _, f := range strings.Split(rest, ",") {
			k, v, _ := strings.Cut(f, "=")
			switch k {
			case "calls":
				calls, _ = strconv.ParseInt(v, 10, 64)
			case "usec_per_call":
				usecPerCall, _ = strconv.ParseFloat(v, 64)
			}
		}
	}
	return calls, usecPerCall
}

// usedMemory returns INFO memory used_memory.
func usedMemory(t *testing.T, c redis.Cmdable) int64 {
	t.Helper()
	info := c.Info(context.Background(), "memory").Val()
	n, _ := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	return n
}

func infoField(info, name string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), name+":"); ok {
			return v
		}
	}
	return ""
}

// scaleEntries returns entry i of a scale run: a token entry with a
// digest from i, expiring within a week.
func scaleEntry(i int, now int64) denylist.Entry {
	var d denylist.Digest
	d[0] = byte(denylist.KindToken)
	binary.BigEndian.PutUint64(d[1:], uint64(i)*0x9E3779B97F4A7C15)
	binary.BigEndian.PutUint64(d[8:], uint64(i)*0xC2B2AE3D27D4EB4F+1)
	return denylist.Entry{Key: denylist.Key{Kind: denylist.KindToken, Digest: d}, Cutoff: denylist.CutoffAlways, Expires: now + 3600 + int64(i%(7*86400))}
}

// scaleMemory stores n entries through Revoke (batches of redisRevokeBatch,
// as a write-back does), and measures Redis bytes per entry, then the
// mirror's load time and heap per entry.
func scaleMemory(t *testing.T, w *strings.Builder, n int, layout string) {
	ctx := context.Background()
	srv := redistest.Start(t)
	defer srv.Stop()
	raw := srv.Client()
	s, err := OpenRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, PoolSize: 16, Layout: layout})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	before := usedMemory(t, raw)
	stored := scaleFill(t, s, n)
	after := usedMemory(t, raw)
	entries, expiry, events := s.Keys()
	usage := func(k string) int64 { return raw.MemoryUsage(ctx, k, 0).Val() }
	fmt.Fprintf(w, "### Redis memory, %s layout (%d entries stored through Revoke in %s: %.0f/s)\n\n", layout, n, stored.Round(time.Millisecond), float64(n)/stored.Seconds())
	fmt.Fprintf(w, "| what | bytes | per entry |\n|---|---|---|\n")
	fmt.Fprintf(w, "| used_memory delta | %d | **%.1f** |\n", after-before, float64(after-before)/float64(n))
	keys := []string{events}
	if layout == LayoutLegacy {
		keys = append(keys, entries, expiry)
	}
	for _, k := range keys {
		u := usage(k)
		fmt.Fprintf(w, "| MEMORY USAGE %s | %d | %.1f |\n", k, u, float64(u)/float64(n))
	}
	if layout != LayoutLegacy {
		p := &s.parts[0]
		fmt.Fprintf(w, "| buckets | %d (%.0f entries each; %s) | |\n", p.buckets.load(), float64(n)/float64(p.buckets.load()), raw.ObjectEncoding(ctx, p.bucketKey(0)).Val())
	}
	fmt.Fprintf(w, "\n(the stream holds the last %d events: %d)\n\n", DefaultRedisStreamMaxLen, raw.XLen(ctx, events).Val())

	scaleMirror(t, w, s, n, "the "+layout+" layout")
}

// scaleMirror opens a mirror on s (which it then owns and closes) holding
// n entries and reports its load time and heap per entry.
func scaleMirror(t *testing.T, w *strings.Builder, s *RedisStore, n int, what string) {
	ctx := context.Background()
	heapBefore := storetest.HeapAlloc()
	start := time.Now()
	m, err := OpenMirror(ctx, s, MirrorOptions{})
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	per := float64(storetest.HeapAlloc()-heapBefore) / float64(n)
	// OpenMirror on a deployment's first start also waits for the new
	// epoch to settle (MirrorOptions.Settle); a reload is the load alone.
	start = time.Now()
	if err := m.reload(ctx, false); err != nil {
		t.Fatal(err)
	}
	reload := time.Since(start)
	fmt.Fprintf(w, "### Mirror on %s\n\n| entries | OpenMirror (first start: + Settle %s) | load (reload) | heap per entry |\n|---|---|---|---|\n| %d | %s | **%s** | **%.1f B** |\n\n",
		what, DefaultMirrorSettle, m.Len(), took.Round(time.Millisecond), reload.Round(time.Millisecond), per)
	m.Close()
}

// scaleFill stores n entries in s through Revoke, 500 a call from 8
// goroutines, and returns how long it took.
func scaleFill(t *testing.T, s *RedisStore, n int) time.Duration {
	now := time.Now().Unix()
	start := time.Now()
	scaleFillRange(t, s, 0, n, func(i int) denylist.Entry { return scaleEntry(i, now) })
	return time.Since(start)
}

// scaleClusterMemory stores n entries in the compact layout over three
// partitions of a 3-primary cluster, and measures each primary's memory
// and a mirror's load from the three.
func scaleClusterMemory(t *testing.T, w *strings.Builder, n int) {
	ctx := context.Background()
	cl := redistest.StartCluster(t, 3, 0)
	defer func() {
		for _, p := range cl.Primaries {
			p.Stop()
		}
	}()
	s, err := OpenRedis(ctx, RedisOptions{Addrs: cl.Seeds(), Cluster: true, Partitions: 3, PoolSize: 16, Layout: LayoutCompact})
	if err != nil {
		t.Fatal(err)
	}
	before := make([]int64, 3)
	for i, p := range cl.Primaries {
		before[i] = usedMemory(t, p.Client())
	}
	stored := scaleFill(t, s, n)
	var total int64
	var per []string
	for i, p := range cl.Primaries {
		d := usedMemory(t, p.Client()) - before[i]
		total += d
		per = append(per, fmt.Sprintf("%.0f MB", float64(d)/1e6))
	}
	fmt.Fprintf(w, "### Redis memory, compact layout, 3 partitions on a 3-primary cluster (%d entries stored in %s: %.0f/s)\n\n", n, stored.Round(time.Millisecond), float64(n)/stored.Seconds())
	fmt.Fprintf(w, "| used_memory delta, all primaries | per entry | per primary |\n|---|---|---|\n| %d | **%.1f** | %s |\n\n", total, float64(total)/float64(n), strings.Join(per, " / "))
	scaleMirror(t, w, s, n, "3 partitions of the 3-primary cluster")
}

// scaleLayouts writes n entries in each candidate layout straight into a
// fresh server and measures used_memory per entry.
func scaleLayouts(t *testing.T, w *strings.Builder, n int) {
	ctx := context.Background()
	now := time.Now().Unix()
	type layout struct {
		name  string
		write func(p redis.Pipeliner, e denylist.Entry, i int)
	}
	bin := func(e denylist.Entry) string { return string(e.Digest[:]) }
	val8 := func(e denylist.Entry) string {
		var b [8]byte
		binary.BigEndian.PutUint32(b[:4], uint32(e.Expires))
		binary.BigEndian.PutUint32(b[4:], uint32(e.Cutoff))
		return string(b[:])
	}
	bucket := func(e denylist.Entry, buckets int) string {
		return strconv.Itoa(int(binary.BigEndian.Uint32(e.Digest[6:10]) % uint32(buckets)))
	}
	nb := max(1, n/64) // about 64 entries per bucket: under hash-max-listpack-entries (128)
	layouts := []layout{
		{"legacy: hash (hex key, \"exp:cut\"), expiry zset, stream op/k/v", func(p redis.Pipeliner, e denylist.Entry, _ int) {
			p.HSet(ctx, "{a}:entries", e.Key.String(), e.Value())
			p.ZAdd(ctx, "{a}:expiry", redis.Z{Score: float64(e.Expires), Member: e.Key.String()})
			p.XAdd(ctx, &redis.XAddArgs{Stream: "{a}:events", Values: []any{"op", "add", "k", e.Key.String(), "v", e.Value()}})
		}},
		{"legacy hash alone", func(p redis.Pipeliner, e denylist.Entry, _ int) {
			p.HSet(ctx, "{a}:entries", e.Key.String(), e.Value())
		}},
		{"one hash, binary field (16 B) and value (8 B)", func(p redis.Pipeliner, e denylist.Entry, _ int) {
			p.HSet(ctx, "{a}:entries", bin(e), val8(e))
		}},
		{fmt.Sprintf("%d listpack hashes by digest (binary field and value)", nb), func(p redis.Pipeliner, e denylist.Entry, _ int) {
			p.HSet(ctx, "{a}:b:"+bucket(e, nb), bin(e), val8(e))
		}},
		{"listpack hashes by expiry hour and digest, binary", func(p redis.Pipeliner, e denylist.Entry, _ int) {
			hours := 7*24 + 1
			p.HSet(ctx, "{a}:w:"+strconv.FormatInt(e.Expires/3600, 10)+":"+bucket(e, max(1, nb/hours)), bin(e), val8(e))
		}},
		{"stream alone, binary k and v", func(p redis.Pipeliner, e denylist.Entry, _ int) {
			p.XAdd(ctx, &redis.XAddArgs{Stream: "{a}:events", Values: []any{"k", bin(e), "v", val8(e)}})
		}},
		{"stream alone, legacy op/k/v", func(p redis.Pipeliner, e denylist.Entry, _ int) {
			p.XAdd(ctx, &redis.XAddArgs{Stream: "{a}:events", Values: []any{"op", "add", "k", e.Key.String(), "v", e.Value()}})
		}},
		{"legacy expiry zset alone", func(p redis.Pipeliner, e denylist.Entry, _ int) {
			p.ZAdd(ctx, "{a}:expiry", redis.Z{Score: float64(e.Expires), Member: e.Key.String()})
		}},
	}
	fmt.Fprintf(w, "### Redis layouts, %d entries written straight into a fresh server\n\n| layout | bytes per entry |\n|---|---|\n", n)
	for _, l := range layouts {
		srv := redistest.Start(t)
		c := srv.Client()
		before := usedMemory(t, c)
		pipe := c.Pipeline()
		for i := range n {
			l.write(pipe, scaleEntry(i, now), i)
			if pipe.Len() >= 3000 {
				if _, err := pipe.Exec(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			t.Fatal(err)
		}
		after := usedMemory(t, c)
		fmt.Fprintf(w, "| %s | %.1f |\n", l.name, float64(after-before)/float64(n))
		srv.Stop()
	}
	fmt.Fprintln(w)
}

// scalePropagation measures propagation on a standalone server (one
// partition) and on a 3-primary cluster with three partitions: 500 times,
// 2 ms apart, mirror a revokes a fresh entry and mirror b's OnRevoked
// listener timestamps the moment b's index holds it. It reports the time
// from a's Revoke returning to that moment (an entry b applied before the
// call returned counts as 0: Redis answers the blocked reader in the same
// turn of its event loop as the writer), and, labeled apart, the time from
// the call's start (which includes the write's own round trip), and the
// call itself.
func scalePropagation(t *testing.T, w *strings.Builder) {
	ctx := context.Background()
	fmt.Fprintf(w, "### Propagation, mirror to mirror in one process\n\n")
	fmt.Fprintf(w, "500 revocations 2 ms apart. **Propagation**: from mirror a's Revoke returning to mirror b's index\n")
	fmt.Fprintf(w, "holding the entry (b's OnRevoked listener; applied before the return: counted as 0), target p99 <= 1 ms.\n")
	fmt.Fprintf(w, "**From the call's start**: from calling a's Revoke to b's index holding it (includes the write's own\n")
	fmt.Fprintf(w, "round trip, which **Revoke** alone is).\n\n")
	fmt.Fprintf(w, "| redis | propagation p50 | p99 | max | applied before the return | from the call's start p50 | p99 | max | Revoke p50 | p99 |\n|---|---|---|---|---|---|---|---|---|---|\n")
	const n = 500
	run := func(name string, o RedisOptions) {
		open := func() *MirrorStore {
			rs, err := OpenRedis(ctx, o)
			if err != nil {
				t.Fatal(err)
			}
			m, err := OpenMirror(ctx, rs, MirrorOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return m
		}
		a, b := open(), open()
		defer a.Close()
		defer b.Close()
		type applied struct {
			key denylist.Key
			at  time.Time
		}
		// The listener runs on b's tail goroutine: it must never block.
		// The channel holds every event of the run; what would not fit
		// (a reload telling of everything again) is dropped, and a
		// revocation whose stamp was dropped times out below.
		stamps := make(chan applied, 4*n)
		remove := b.OnRevoked(func(es []denylist.Entry) {
			at := time.Now()
			for _, e := range es {
				select {
				case stamps <- applied{e.Key, at}:
				default:
				}
			}
		})
		defer remove()
		var prop, fromStart, call []time.Duration
		before := 0
		now := time.Now().Unix()
		for i := range n {
			time.Sleep(2 * time.Millisecond)
			e := storetest.TokenEntry(fmt.Sprintf("prop-%s-%d", name, i))
			e.Expires = now + 3600
			start := time.Now()
			if err := a.Revoke(ctx, e); err != nil {
				t.Fatal(err)
			}
			done := time.Now()
			timeout := time.NewTimer(5 * time.Second)
			var at time.Time
			for at.IsZero() {
				select {
				case s := <-stamps:
					if s.key == e.Key {
						at = s.at
					}
				case <-timeout.C:
					t.Fatalf("%s: b never applied revocation %d", name, i)
				}
			}
			timeout.Stop()
			d := at.Sub(done)
			if d <= 0 {
				d, before = 0, before+1
			}
			prop = append(prop, d)
			fromStart = append(fromStart, at.Sub(start))
			call = append(call, done.Sub(start))
		}
		q := func(l []time.Duration, q float64) time.Duration {
			sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
			return l[int(q*float64(len(l)-1))].Round(time.Microsecond)
		}
		fmt.Fprintf(w, "| %s | %s | **%s** | %s | %d of %d | %s | %s | %s | %s | %s |\n", name,
			q(prop, 0.5), q(prop, 0.99), q(prop, 1), before, n,
			q(fromStart, 0.5), q(fromStart, 0.99), q(fromStart, 1), q(call, 0.5), q(call, 0.99))
	}
	srv := redistest.Start(t)
	run("standalone, 1 partition", RedisOptions{Addrs: []string{srv.Addr}})
	cl := redistest.StartCluster(t, 3, 0)
	run("cluster of 3 primaries, 3 partitions", RedisOptions{Addrs: cl.Seeds(), Cluster: true, Partitions: 3})
	fmt.Fprintln(w)
}

// dataMemory returns INFO memory used_memory less mem_clients_normal: the
// memory of the data (and scripts), not of the clients' buffers, which
// follow the connections open and what they last sent.
func dataMemory(t *testing.T, c redis.Cmdable) int64 {
	t.Helper()
	info := c.Info(context.Background(), "memory").Val()
	used, _ := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	clients, _ := strconv.ParseInt(infoField(info, "mem_clients_normal"), 10, 64)
	return used - clients
}

// scaleGrowth fills one key prefix, opened with no layout or sizing
// option, to 10^3, 10^4, ... n live revocations (entry i expiring at
// base+3600+i), and reports Redis memory per live revocation at each
// count and the buckets; then it moves the store's clock so that all but
// the last 10^3 have expired, purges until the bucket count holds, and
// reports the buckets shrunk back.
func scaleGrowth(t *testing.T, w *strings.Builder, n int) {
	ctx := context.Background()
	srv := redistest.Start(t)
	defer srv.Stop()
	raw := srv.Client()
	base := time.Now().Unix()
	var clock atomic.Int64
	clock.Store(base)
	// Long timeouts: what is measured is memory, on a machine that may
	// be busy with other work.
	s, err := openRedis(ctx, RedisOptions{Addrs: []string{srv.Addr}, PoolSize: 16, ReadTimeout: time.Minute, WriteTimeout: time.Minute}, func() time.Time { return time.Unix(clock.Load(), 0) }, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := &s.parts[0]
	entry := func(i int) denylist.Entry {
		e := scaleEntry(i, base)
		e.Expires = base + 3600 + int64(i)
		return e
	}
	// buckets returns the bucket count, how many are hash tables (past a
	// listpack) and their MEMORY USAGE.
	buckets := func() (count, tables int, bytes int64) {
		count = p.buckets.load()
		for start := 0; start < count; start += 1000 {
			pipe := raw.Pipeline()
			var enc []*redis.StringCmd
			var use []*redis.IntCmd
			for b := start; b < min(count, start+1000); b++ {
				enc = append(enc, pipe.ObjectEncoding(ctx, p.bucketKey(b)))
				use = append(use, pipe.MemoryUsage(ctx, p.bucketKey(b), 0))
			}
			if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
				t.Fatal(err)
			}
			for i := range enc {
				if enc[i].Val() == "hashtable" {
					tables++
				}
				bytes += use[i].Val()
			}
		}
		return count, tables, bytes
	}
	_, _, events := s.Keys()
	// The first revocations cost Redis some 0.2-0.5 MB once, whatever
	// the number held (the scripts, the Lua VM, scratch space for a
	// 500-entry script): the figure per revocation is the memory of the
	// prefix's keys (MEMORY USAGE), with used_memory's growth beside it.
	prefixBytes := func() (total int64) {
		iter := raw.Scan(ctx, 0, "{trv}:*", 1000).Iterator()
		pipe := raw.Pipeline()
		var use []*redis.IntCmd
		for iter.Next(ctx) {
			use = append(use, pipe.MemoryUsage(ctx, iter.Val(), 0))
			if len(use)%1000 == 0 {
				pipe.Exec(ctx)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil && err != redis.Nil {
			t.Fatal(err)
		}
		for _, u := range use {
			total += u.Val()
		}
		return total
	}
	if err := s.Revoke(ctx, entry(0)); err != nil {
		t.Fatal(err)
	}
	data0, prev := dataMemory(t, raw), usedMemory(t, raw)
	fmt.Fprintf(w, "### Redis memory, compact layout with no sizing option, growing (one prefix filled through Revoke, 500 a call from 8 goroutines)\n\n")
	fmt.Fprintf(w, "Per live revocation: the MEMORY USAGE of every key of the prefix (the buckets, the events stream, the counters); used_memory's growth from the row before, per revocation added; used_memory less client buffers (mem_clients_normal) from the first revocation on, which includes the 0.2-0.5 MB Redis spends once on the first scripts run (the scripts, the Lua VM, scratch space).\n\n")
	fmt.Fprintf(w, "| live revocations | **the prefix's keys** | buckets | events stream | used_memory growth | used_memory less client buffers | buckets (entries each; hash tables) |\n|---|---|---|---|---|---|---|\n")
	filled := 1
	for target := 1000; target <= n; target *= 10 {
		scaleFillRange(t, s, filled, target, entry)
		used := usedMemory(t, raw)
		growth := float64(used-prev) / float64(target-filled)
		prev, filled = used, target
		data := dataMemory(t, raw) - data0
		count, tables, bytes := buckets()
		per := func(b int64) float64 { return float64(b) / float64(target) }
		row := fmt.Sprintf("| %d | **%.1f B** | %.1f B | %.1f B | %.1f B | %.1f B | %d (%.0f; %d) |\n", target, per(prefixBytes()), per(bytes), per(raw.MemoryUsage(ctx, events, 0).Val()),
			growth, float64(data)/float64(target-1), count, float64(target)/float64(count), tables)
		t.Log(row) // now: a long run cut short keeps its rows
		w.WriteString(row)
	}
	if filled == 1 {
		return
	}
	// All but the last 1000 expire.
	live := min(1000, filled)
	clock.Store(base + 3600 + int64(filled-live))
	// One purge removes them; the purge loop would then merge
	// resizeStepsPerCall buckets a minute: here, until done.
	if _, err := s.Purge(ctx, time.Unix(clock.Load(), 0)); err != nil {
		t.Fatal(err)
	}
	for prev := 0; prev != p.buckets.load(); {
		prev = p.buckets.load()
		if err := s.resizeNow(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	count, tables, bytes := buckets()
	fmt.Fprintf(w, "\nthen all but the last %d expired and purged: %d buckets (%.0f entries each; %d hash tables), their MEMORY USAGE %.1f B per live revocation (the events stream keeps its last %d events: %d B)\n\n",
		live, count, float64(live)/float64(count), tables, float64(bytes)/float64(live), DefaultRedisStreamMaxLen, raw.MemoryUsage(ctx, events, 0).Val())
}

// scaleFillRange stores entries from to to (entry(i)) in s through
// Revoke, 500 a call from 8 goroutines.
func scaleFillRange(t *testing.T, s *RedisStore, from, to int, entry func(int) denylist.Entry) {
	ctx := context.Background()
	var wg sync.WaitGroup
	const writers = 8
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			batch := make([]denylist.Entry, 0, redisRevokeBatch)
			for i := from + g; i < to; i += writers {
				batch = append(batch, entry(i))
				if len(batch) == cap(batch) || i+writers >= to {
					if err := s.Revoke(ctx, batch...); err != nil {
						t.Error(err)
						return
					}
					batch = batch[:0]
				}
			}
		}()
	}
	wg.Wait()
}
