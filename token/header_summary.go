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
// a value seen before costs a hash and a comparison instead of a scan. The
// table keeps the candidates too (up to maxSummaryCandidates of them), so
// a value that must be checked string by string (a JWT's Authorization,
// or one with a revoked token's length) is not scanned again either:
// ValueSummary.AppendCandidates hands out the same strings
// HeaderValueCandidates would.

// maxSummaryLengths is how many distinct lengths a ValueSummary holds; a
// value with more is scanned every time.
const maxSummaryLengths = 16

// maxSummaryCandidates is how many candidates the table keeps for a value;
// a value with more is scanned each time its candidates are asked for.
// With the table's bounds it bounds the table's memory (below).
const maxSummaryCandidates = 16

// ValueSummary is what the candidates of one header value are, for a
// check that may skip them.
type ValueSummary struct {
	lengths [maxSummaryLengths]uint16
	n       uint8
	// cands are the value's candidates, Where left empty, when the table
	// keeps them (kept is then true, even for none).
	cands []Candidate
	kept  bool
	// Scan says the value must be scanned and its candidates checked one
	// by one: one is shaped as a JWT (checked whatever its length), or the
	// lengths do not fit a summary.
	Scan bool
}

// Lengths are the distinct lengths of the value's candidates that are not
// shaped as JWTs.
func (s *ValueSummary) Lengths() []uint16 { return s.lengths[:s.n] }

// AppendCandidates appends to dst the candidates of v, the value s
// summarizes, found at w: those the table kept, or, when it kept none, v
// scanned again (HeaderValueCandidates). The same strings either way.
func (s *ValueSummary) AppendCandidates(v string, w Where, dst []Candidate) []Candidate {
	if !s.kept {
		return HeaderValueCandidates(v, w, dst)
	}
	for _, c := range s.cands {
		c.Where = w
		dst = append(dst, c)
	}
	return dst
}

// summarize computes the summary of v from its candidates. With keep not
// nil it keeps them too, in keep when they fit (v is then the table's
// copy, not the request's memory).
func summarize(v string, keep []Candidate) ValueSummary {
	var buf [32]Candidate
	cands := HeaderValueCandidates(v, Where{}, buf[:0])
	s := lengthsOf(cands)
	if keep != nil && len(cands) <= maxSummaryCandidates {
		s.kept = true
		if len(cands) > 0 {
			s.cands = append(keep[:0], cands...) // allocated only beyond keep's capacity
		}
	}
	return s
}

// lengthsOf is the summary of cands, without them.
func lengthsOf(cands []Candidate) ValueSummary {
	var s ValueSummary
	for _, c := range cands {
		if c.JWT || c.Unreadable || len(c.S) > 1<<16-1 {
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
// maxSummarizedValue bytes and maxSummaryCandidates candidates each (a
// candidate is a string of the value's copy, or one decoded from it and
// about as long (Skeleton): about 2 MiB of values and 2.5 MiB of candidates'
// headers, inline and beyond, plus what was decoded, allocated as values
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
	// inline holds the candidates when they are few (a bearer JWT has
	// five: the JWT, found twice, and its three segments, and a
	// Keycloak-like payload's strings five more), so that a new value
	// costs two allocations, its copy and its entry.
	inline [summaryInlineCandidates]Candidate
}

// summaryInlineCandidates is how many candidates an entry holds without
// an allocation of their own (12 x 56 bytes an entry).
const summaryInlineCandidates = 12

var (
	summarySeed  = maphash.MakeSeed()
	summaryTable [summaryTableSize]atomic.Pointer[summaryEntry]
)

// SummarizeHeaderValue returns the summary of a header value's candidates
// (HeaderValueCandidates), from the table when v was seen before.
func SummarizeHeaderValue(v string) ValueSummary {
	if len(v) < MinCandidateLength && !NeedsSkeleton(v) {
		// No run, nor anything decoded from one (never longer), is
		// long enough to be handed out: a Host, an Accept-Encoding, a
		// Sec-Fetch-Mode need neither a hash nor the table. (A
		// skeleton can be longer than its value: Skeleton.)
		return ValueSummary{}
	}
	if len(v) > maxSummarizedValue {
		return summarize(v, nil)
	}
	slot := &summaryTable[maphash.String(summarySeed, v)%summaryTableSize]
	if e := slot.Load(); e != nil && e.value == v {
		return e.summary
	}
	kept := strings.Clone(v) // not the request's memory: the candidates are strings of it
	e := &summaryEntry{value: kept}
	e.summary = summarize(kept, e.inline[:0])
	slot.Store(e)
	return e.summary
}
