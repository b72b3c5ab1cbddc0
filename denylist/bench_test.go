package denylist

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
)

func BenchmarkDigest(b *testing.B) {
	for _, size := range []int{43, 512} {
		for _, key := range []string{"", "hmac-key"} {
			name := "sha256"
			if key != "" {
				name = "hmac"
			}
			b.Run(name+"/"+strconv.Itoa(size)+"B", func(b *testing.B) {
				h := NewHasher([]byte(key))
				p := bytes.Repeat([]byte("x"), size)
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					h.Digest(KindToken, "", []byte("o"), p)
				}
			})
		}
	}
}

// benchEntries returns n distinct live entries of every kind.
func benchEntries(n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		var d Digest
		binary.LittleEndian.PutUint64(d[1:], uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(d[8:], uint64(i))
		k := []Kind{KindToken, KindJTI, KindSession, KindUser}[i%4]
		d[0] = byte(k)
		out[i] = Entry{Key: Key{Kind: k, Digest: d}, Cutoff: t0, Expires: t0 + 3600}
	}
	return out
}

func filledIndex(n int) *Index {
	ix := NewIndex()
	ix.Put(benchEntries(n)...)
	return ix
}

// BenchmarkIndexCheck is a JWT's query (4 keys) against a million entries,
// none matching.
func BenchmarkIndexCheck(b *testing.B) {
	ix := filledIndex(1_000_000)
	q := query(t0, tokenKey("a"), sessionKey("s"), userKey("u"), tokenKey("j"))
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			ix.Check(q, t0)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ix.Check(q, t0)
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
			es := benchEntries(1000)
			for i := 0; !stop.Load(); i++ {
				ix.Put(es[i%len(es)])
			}
		}()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				ix.Check(q, t0)
			}
		})
		stop.Store(true)
		<-done
	})
}

// BenchmarkIndexMemory reports the heap an Index holds per live entry
// (runtime.MemStats.HeapAlloc after GC, before and after filling it).
func BenchmarkIndexMemory(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			es := benchEntries(n)
			var perEntry float64
			for i := 0; i < b.N; i++ {
				before := heapAlloc()
				ix := NewIndex()
				for _, e := range es { // one at a time, as a mirror loads
					ix.Put(e)
				}
				after := heapAlloc()
				perEntry = float64(after-before) / float64(n)
				runtime.KeepAlive(ix)
			}
			b.ReportMetric(perEntry, "bytes/entry")
		})
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
