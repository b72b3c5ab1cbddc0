package denylist_test

import (
	"bytes"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
)

func BenchmarkDigest(b *testing.B) {
	for _, size := range []int{43, 512} {
		for _, key := range []string{"", "hmac-key"} {
			name := "sha256"
			if key != "" {
				name = "hmac"
			}
			b.Run(name+"/"+strconv.Itoa(size)+"B", func(b *testing.B) {
				h := denylist.NewHasher([]byte(key))
				p := bytes.Repeat([]byte("x"), size)
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					h.Digest(denylist.KindToken, "", []byte("o"), p)
				}
			})
		}
	}
}

func filledIndex(n int) *denylist.Index {
	ix := denylist.NewIndex()
	ix.Put(storetest.BenchEntries(n)...)
	return ix
}

// BenchmarkIndexCheck is a JWT's query (4 keys) against a million entries,
// none matching.
func BenchmarkIndexCheck(b *testing.B) {
	ix := filledIndex(1_000_000)
	q := storetest.NewQuery(storetest.T0, storetest.TokenKey("a"), storetest.SessionKey("s"), storetest.UserKey("u"), storetest.TokenKey("j"))
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ix.Check(q, storetest.T0)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ix.Check(q, storetest.T0)
			}
		})
	})
	// Checks while another goroutine keeps writing: what a burst of
	// revocations costs the request path.
	b.Run("parallel-with-writer", func(b *testing.B) {
		var stop atomic.Bool
		done := make(chan struct{})
		go func() {
			defer close(done)
			es := storetest.BenchEntries(1000)
			for i := 0; !stop.Load(); i++ {
				ix.Put(es[i%len(es)])
			}
		}()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ix.Check(q, storetest.T0)
			}
		})
		stop.Store(true)
		<-done
	})
}

// BenchmarkIndexMemory reports the heap an denylist.Index holds per live entry
// (runtime.MemStats.HeapAlloc after GC, before and after filling it).
func BenchmarkIndexMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			es := storetest.BenchEntries(n)
			var perEntry float64
			for i := 0; i < b.N; i++ {
				before := storetest.HeapAlloc()
				ix := denylist.NewIndex()
				for _, e := range es { // one at a time, as a mirror loads
					ix.Put(e)
				}
				after := storetest.HeapAlloc()
				perEntry = float64(after-before) / float64(n)
				runtime.KeepAlive(ix)
			}
			b.ReportMetric(perEntry, "bytes/entry")
		})
	}
}
