package engine

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// A request is checked in two ways: the tokens of the channels an upstream
// reads by name (token.Sources) each by its query, and every token-shaped
// string anywhere in it (token.Candidates). A string of the second kind is
// digested only when it could be revoked: a JWT always (its query is
// cached), an opaque string only when some live revoked opaque token has
// its length. The lengths are in the denylist itself: every opaque
// revocation stores a length marker beside the token (Keys.Length), with
// the token's expiry, so every instance learns them as it learns the
// token.

// lengthMarker is the first part of a length marker's input, distinct from
// a token identity's (token.OpaqueMarker, token.JWTMarker).
const lengthMarker = "n"

// Length is the key of the marker that says a live revoked opaque token is
// n bytes long.
func (k *Keys) Length(n int) denylist.Key {
	var b [20]byte
	return k.Hasher.KeyStrings(denylist.KindToken, "", lengthMarker, string(strconv.AppendInt(b[:0], int64(n), 10)))
}

// CandidateParts are the strings besides raw itself under which a revoked
// opaque token raw is known: raw trimmed of '.', ':' and '|', and each of
// its parts between them at least token.MinCandidateLength long. An
// upstream that finds a "<id>|<secret>" token by its secret alone (Laravel
// Sanctum), or by an id spelled otherwise, reads the same credential from
// another string; revoking the token revokes its secret part too.
func CandidateParts(raw string) []string {
	var out []string
	t := strings.Trim(raw, ".:|")
	if t != raw && len(t) >= token.MinCandidateLength {
		out = append(out, t)
	}
	if !strings.ContainsAny(t, ".:|") {
		return out
	}
	for _, p := range strings.FieldsFunc(t, func(r rune) bool { return r == '.' || r == ':' || r == '|' }) {
		if len(p) >= token.MinCandidateLength {
			out = append(out, p)
		}
	}
	return out
}

// CandidateState is what one request's CheckCandidate calls share: the
// store's generation, read once, and, for a store without one (Redis in
// direct mode), the answers for the lengths already asked. The zero value
// is ready to use.
type CandidateState struct {
	now             time.Time // SetNow's
	gen             uint64
	cacheable, read bool
	lengths         [16]lengthAnswer
	nLengths        int
}

// lengthAnswer is whether a live revoked opaque token has length n.
type lengthAnswer struct {
	n      int
	marked bool
}

// answered returns the request's answer for length n, if it has one.
func (st *CandidateState) answered(n int) (marked, ok bool) {
	for _, a := range st.lengths[:st.nLengths] {
		if a.n == n {
			return a.marked, true
		}
	}
	return false, false
}

// remember keeps the answer for length n, while there is room.
func (st *CandidateState) remember(n int, marked bool) {
	if _, ok := st.answered(n); !ok && st.nLengths < len(st.lengths) {
		st.lengths[st.nLengths] = lengthAnswer{n, marked}
		st.nLengths++
	}
}

// AskLengths asks a store without a generation (Redis in direct mode) about
// lengths at once, a query of up to denylist.MaxQueryKeys length markers a
// round trip: the common answer, none of them marked, then costs one
// round trip per MaxQueryKeys lengths rather than one per length; a batch that
// matches is asked again length by length. The answers serve the
// request's later CheckCandidate and AnyLengthMarked calls (st). A store
// with a generation needs none of it.
func (c *Checker) AskLengths(ctx context.Context, st *CandidateState, lengths []int) error {
	if _, cacheable := st.generation(c.store); cacheable {
		return nil
	}
	var batch [denylist.MaxQueryKeys]int
	nb := 0
	flush := func() error {
		if nb == 0 {
			return nil
		}
		q := queryPool.Get().(*denylist.Query)
		defer queryPool.Put(q)
		*q = denylist.Query{Now: st.now}
		for _, n := range batch[:nb] {
			q.Add(c.keys.Length(n))
		}
		m, err := c.store.Check(ctx, q)
		if err != nil {
			return err
		}
		for _, n := range batch[:nb] {
			if !m.Revoked {
				st.remember(n, false)
			} else if _, err := c.LengthMarked(ctx, st, n); err != nil {
				return err
			}
		}
		nb = 0
		return nil
	}
	for _, n := range lengths {
		if n < token.MinCandidateLength || n > c.maxCandidate {
			continue
		}
		if _, ok := st.answered(n); ok || slicesContains(batch[:nb], n) {
			continue
		}
		if st.nLengths+nb >= len(st.lengths) {
			break // the rest is asked one by one
		}
		batch[nb] = n
		nb++
		if nb == len(batch) {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	return flush()
}

// AnyLengthMarked reports whether some live revoked opaque token has one
// of lengths (a header value's, token.ValueSummary): when none has, none
// of the value's opaque candidates can be revoked.
func (c *Checker) AnyLengthMarked(ctx context.Context, st *CandidateState, lengths []uint16) (bool, error) {
	for _, n := range lengths {
		if int(n) < token.MinCandidateLength || int(n) > c.maxCandidate {
			continue
		}
		if marked, err := c.LengthMarked(ctx, st, int(n)); err != nil || marked {
			return marked, err
		}
	}
	return false, nil
}

func slicesContains(s []int, n int) bool {
	for _, v := range s {
		if v == n {
			return true
		}
	}
	return false
}

// SkippableLengths fills set with the lengths (below token.MaxSetLength)
// that no live revoked opaque token has, as far as the checker knows at
// the store's generation (st: the request's): a string of one of them
// found in the request cannot be revoked, and need not even be handed
// out (token.TargetAndBodyCandidates). A store without a generation
// leaves set empty.
//
// The lengths below token.MinJWTLength are asked first when the checker
// does not know them at this generation (once a generation): when none is
// marked, the scan looks only at runs of token.MinJWTLength bytes or more,
// and skips that many bytes a step (in a 64 KiB JSON body, a fifth of the
// scan's work, and its 20-byte timestamps are no longer handed out). A
// store that fails to answer leaves them unknown, so not skipped.
func (c *Checker) SkippableLengths(ctx context.Context, st *CandidateState, set *token.LengthSet) {
	gen, cacheable := st.generation(c.store)
	if !cacheable {
		return
	}
	for n := token.MinCandidateLength; n < token.MinJWTLength && n <= c.maxCandidate; n++ {
		if _, known := c.lengths.lookup(gen, n); !known {
			if _, err := c.LengthMarked(ctx, st, n); err != nil {
				break
			}
		}
	}
	c.lengths.skippable(gen, set)
}

// Generational reports whether the store says when it changed
// (denylist.Generational), so the lengths it marks are remembered across
// requests; one that does not (Redis in direct mode) is best asked about
// a request's lengths at once (AskLengths).
func (c *Checker) Generational(st *CandidateState) bool {
	_, cacheable := st.generation(c.store)
	return cacheable
}

// SetNow gives the time the request read the clock at (its check's
// start): the store's freshness is judged at it rather than by reading
// the clock again (a clock read costs 50-65 ns on a KVM guest).
func (st *CandidateState) SetNow(now time.Time) { st.now = now }

// time is SetNow's time (zero for a nil st, or none given): the one a
// store judges the request's queries at (denylist.Query.Now).
func (st *CandidateState) time() time.Time {
	if st == nil {
		return time.Time{}
	}
	return st.now
}

// generation returns the store's generation, read at the request's first
// candidate.
func (st *CandidateState) generation(store denylist.Store) (uint64, bool) {
	if !st.read {
		if g, ok := store.(denylist.Generational); ok {
			st.gen, st.cacheable = g.Generation(st.now)
		}
		st.read = true
	}
	return st.gen, st.cacheable
}

// LengthMarked reports whether some live revoked opaque token is n bytes
// long, so a string of that length found anywhere in a request is worth a
// check. From memory when the store can say nothing changed since it last
// asked (st: the request's; nil for a call of its own).
func (c *Checker) LengthMarked(ctx context.Context, st *CandidateState, n int) (bool, error) {
	if st == nil {
		st = new(CandidateState)
	}
	gen, cacheable := st.generation(c.store)
	if cacheable {
		if marked, known := c.lengths.lookup(gen, n); known {
			return marked, nil
		}
	} else if marked, ok := st.answered(n); ok {
		return marked, nil
	}
	q := queryPool.Get().(*denylist.Query)
	defer queryPool.Put(q)
	*q = denylist.Query{Now: st.now}
	q.Add(c.keys.Length(n))
	m, err := c.store.Check(ctx, q)
	if err != nil {
		return false, err
	}
	if cacheable {
		c.lengths.record(gen, n, m.Revoked)
	} else {
		st.remember(n, m.Revoked)
	}
	return m.Revoked, nil
}

// CheckCandidate checks a token-shaped string found anywhere in a request
// (token.Candidates), with the request's st: a JWT by its query, as Check
// does; an opaque string
// only when a live revoked opaque token has its length (see LengthMarked),
// and then by its identity and its lower-case spelling's (Keys.Folded)
// alone, in no namespace. checked is false when
// the string was skipped.
func (c *Checker) CheckCandidate(ctx context.Context, st *CandidateState, ns string, cand token.Candidate) (m denylist.Match, checked bool, err error) {
	s := cand.S
	if cand.JWT {
		m, err = c.CheckAt(ctx, st.time(), ns, s)
		return m, true, err
	}
	if len(s) < token.MinCandidateLength || len(s) > c.maxCandidate {
		return denylist.Match{}, false, nil
	}
	marked, err := c.LengthMarked(ctx, st, len(s))
	if err != nil || !marked {
		return denylist.Match{}, false, err
	}
	q := queryPool.Get().(*denylist.Query)
	defer queryPool.Put(q)
	*q = denylist.Query{Now: st.time()}
	q.Add(c.keys.opaque("", s))
	c.keys.addFolded(q, s)
	m, err = c.store.Check(ctx, q)
	return m, true, err
}
