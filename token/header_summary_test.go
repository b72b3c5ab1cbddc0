package token

import (
	"hash/maphash"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// FuzzSummarizeHeaderValue: a header value's summary says exactly what its
// candidates are: Scan when one is shaped as a JWT (or the lengths do not
// fit), otherwise the distinct lengths of them all; asked again (from the
// table), the same; and the candidates it hands out are those of a scan,
// in the same order, at the Where asked.
func FuzzSummarizeHeaderValue(f *testing.F) {
	f.Add("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0")
	f.Add("_ga=GA1.2.1234567890.1701234567; csrftoken=Zx8Qm3Lp0Vb7Nc2Kd9Rf4Tg6Hj1Wy5Ue; c=j%3A%22abc%22")
	f.Add("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln")
	f.Add("Basic dXNlcjpZejdrUXAyclZ0OXdYYjRuTG04c0RmNmdIajNrUHExcg==")
	long := ""
	for n := 16; n < 34; n++ {
		long += " " + strings.Repeat("a", n)
	}
	f.Add(long)
	f.Add(strings.Repeat("Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln, ", 5))
	f.Fuzz(func(t *testing.T, v string) {
		lengths := map[int]bool{}
		jwt := false
		w := Where{Part: "header", Name: "Authorization"}
		scanned := HeaderValueCandidates(v, w, nil)
		for _, c := range scanned {
			jwt = jwt || c.JWT
			if !c.JWT {
				lengths[len(c.S)] = true
			}
		}
		for round := 0; round < 2; round++ {
			s := SummarizeHeaderValue(v)
			if got := s.AppendCandidates(v, w, nil); !slices.Equal(got, scanned) {
				t.Fatalf("round %d: candidates %+v, a scan finds %+v", round, got, scanned)
			}
			if want := jwt || len(lengths) > maxSummaryLengths; s.Scan != want {
				t.Fatalf("round %d: Scan %v, want %v (%d lengths, JWT %v)", round, s.Scan, want, len(lengths), jwt)
			}
			if s.Scan {
				continue
			}
			if len(s.Lengths()) != len(lengths) {
				t.Fatalf("round %d: lengths %v, want those of %v", round, s.Lengths(), lengths)
			}
			for _, n := range s.Lengths() {
				if !lengths[int(n)] {
					t.Fatalf("round %d: length %d is no candidate's", round, n)
				}
			}
		}
	})
}

// TestSummaryTableKeepsValuesApart: two values that share a slot of the
// table each get their own summary, however they alternate.
func TestSummaryTableKeepsValuesApart(t *testing.T) {
	a := "plain words only"
	slot := func(v string) uint64 { return maphash.String(summarySeed, v) % summaryTableSize }
	var b string
	for i := 0; ; i++ {
		b = "token=" + strings.Repeat("Q", 20) + strconv.Itoa(i)
		if slot(b) == slot(a) {
			break
		}
	}
	for round := 0; round < 3; round++ {
		if s := SummarizeHeaderValue(a); s.Scan || len(s.Lengths()) != 0 {
			t.Fatalf("round %d: %q summarized as %+v", round, a, s)
		}
		if s := SummarizeHeaderValue(b); s.Scan || len(s.Lengths()) != 1 || int(s.Lengths()[0]) != len(b)-len("token=") {
			t.Fatalf("round %d: %q summarized as %+v", round, b, s)
		}
	}
}
