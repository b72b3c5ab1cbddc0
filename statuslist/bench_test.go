package statuslist

import (
	"context"
	"testing"
)

// BenchmarkStatusListCheck is the cost of Entry.Check once a list of
// 10^6 entries (one bit each, every 7th revoked) is cached: what a
// verified JWT with a status claim adds to its check when the glue keeps
// its Entry beside its cached query (issue 25's target: at most 100 ns
// more than a cached JWT's check). The entries read are spread over the
// whole list, as tokens of many users are.
func BenchmarkStatusListCheck(b *testing.B) {
	benchmarkCheck(b, true)
}

// BenchmarkStatusListCheckByReference is Checker.Check on the same list:
// the list found by issuer and uri at each check.
func BenchmarkStatusListCheckByReference(b *testing.B) {
	benchmarkCheck(b, false)
}

func benchmarkCheck(b *testing.B, entries bool) {
	g := newGoIssuer(b)
	const size = 1_000_000
	data := make([]byte, size/8)
	for i := 0; i < size; i += 7 {
		data[i/8] |= 1 << (i % 8)
	}
	g.set(func(g *goIssuer) { g.data = data })
	c := newChecker(b, Config{Keys: g.keys()})
	ctx := context.Background()
	// Each Reference is a copy, as the glue's cached one would be.
	refs := make([]Reference, 4096)
	for i := range refs {
		refs[i] = Reference{URI: string([]byte(g.uri())), Index: uint64(i*7919) % size}
	}
	cached := make([]Entry, len(refs))
	iss := g.issuer()
	if r := c.Check(ctx, iss, refs[0]); r.Verdict == Unknown {
		b.Fatalf("first check: %+v", r)
	}
	for i, ref := range refs {
		cached[i] = c.Resolve(iss, ref)
	}
	b.ReportAllocs()
	b.ResetTimer()
	revoked := 0
	for i := 0; b.Loop(); i++ {
		var r Result
		if entries {
			r = cached[i&4095].Check(ctx)
		} else {
			r = c.Check(ctx, iss, refs[i&4095])
		}
		if r.Verdict == Rejected {
			revoked++
		}
	}
	if revoked == 0 {
		b.Fatal("no revoked entry read")
	}
}
