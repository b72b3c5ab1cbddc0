package token

import (
	"hash/maphash"
	"strings"
	"sync/atomic"
)

// A browser sends the same header values request after request (its
// User-Agent, Accept lines, its cookies), and most hold no token. What a
// check needs of a value's candidates is known from the value alone: the
// lengths of its opaque ones (a check digests one only when a revoked
// token has its length) and whether one is shaped as a JWT. SummarizeHeaderValue
// keeps that per value, in a small table shared by the whole process, so
// a value seen before costs a hash and a comparison instead of a scan; the
// candidates themselves are listed (HeaderValueCandidates) only when one
// of those lengths is revoked.

// maxSummaryLengths is how many distinct lengths a ValueSummary holds; a
// value with more is scanned every time.
const maxSummaryLengths = 16

// ValueSummary is what the candidates of one header value are, for a
// check that may skip them.
type ValueSummary struct {
	lengths [maxSummaryLengths]uint16
	n       uint8
	// Scan says the value must be scanned and its candidates checked one
	// by one: one is shaped as a JWT (checked whatever its length), or the
	// lengths do not fit a summary.
	Scan bool
}

// Lengths are the distinct lengths of the value's candidates that are not
// shaped as JWTs.
func (s *ValueSummary) Lengths() []uint16 { return s.lengths[:s.n] }

// summarize computes the summary of v from its candidates.
func summarize(v string) ValueSummary {
	var buf [32]Candidate
	var s ValueSummary
	for _, c := range HeaderValueCandidates(v, Where{}, buf[:0]) {
		if c.JWT || len(c.S) > 1<<16-1 {
			return ValueSummary{Scan: true}
		}
		if s.has(len(c.S)) {
			continue
		}
		if int(s.n) == maxSummaryLengths {
			return ValueSummary{Scan: true}
		}
		s.lengths[s.n] = uint16(len(c.S))
		s.n++
	}
	return s
}

func (s *ValueSummary) has(n int) bool {
	for _, l := range s.lengths[:s.n] {
		if int(l) == n {
			return true
		}
	}
	return false
}

// The summaries' table: direct-mapped by a hash of the value, each slot
// one value and its summary, replaced by the next value that hashes
// there. Bounded: summaryTableSize slots, values of at most
// maxSummarizedValue bytes (about 2 MiB at most, allocated as values
// come); longer values are scanned every time. Lock-free: a slot is an
// atomic pointer to an immutable entry, and a hit compares the whole
// value, so two values never share a summary.
const (
	summaryTableSize   = 2048
	maxSummarizedValue = 1024
)

type summaryEntry struct {
	value   string
	summary ValueSummary
}

var (
	summarySeed  = maphash.MakeSeed()
	summaryTable [summaryTableSize]atomic.Pointer[summaryEntry]
)

// SummarizeHeaderValue returns the summary of a header value's candidates
// (HeaderValueCandidates), from the table when v was seen before.
func SummarizeHeaderValue(v string) ValueSummary {
	if len(v) < MinCandidateLength {
		// No run, nor anything decoded from one (never longer), is
		// long enough to be handed out: a Host, an Accept-Encoding, a
		// Sec-Fetch-Mode need neither a hash nor the table.
		return ValueSummary{}
	}
	if len(v) > maxSummarizedValue {
		return summarize(v)
	}
	slot := &summaryTable[maphash.String(summarySeed, v)%summaryTableSize]
	if e := slot.Load(); e != nil && e.value == v {
		return e.summary
	}
	e := &summaryEntry{value: strings.Clone(v), summary: summarize(v)} // not the request's memory
	slot.Store(e)
	return e.summary
}
