package engine

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

func TestCandidateParts(t *testing.T) {
	secret := "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	cases := []struct {
		raw  string
		want []string
	}{
		{"plain-opaque-token-1234567890", nil},
		{"5|" + secret, []string{secret}},
		{"." + secret + "..", []string{secret}},
		// "s" is a part, not a separator: nothing is trimmed.
		{"s:" + secret + ".hmacsignature0123456789abcdef", []string{secret, "hmacsignature0123456789abcdef"}},
		{"short|parts", nil},
	}
	for _, c := range cases {
		got := CandidateParts(c.raw)
		if !slices.Equal(got, c.want) {
			t.Errorf("CandidateParts(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

// newCandidateChecker is a Checker and Recorder over an embedded store.
func newCandidateChecker(t *testing.T) (*Checker, *Recorder, *boltstore.EmbeddedStore) {
	t.Helper()
	s, err := boltstore.OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	keys := &Keys{Hasher: denylist.NewHasher([]byte("k"))}
	rec := NewRecorder(keys, s, RecorderConfig{DefaultTTL: time.Hour, MaxTokenLifetime: time.Hour})
	return NewChecker(keys, s, nil), rec, s
}

func revoke(t *testing.T, rec *Recorder, raw string) {
	t.Helper()
	ctx := context.Background()
	es, err := rec.Entries(ctx, &Revocation{Tokens: []token.Token{token.Parse(raw)}})
	if err != nil {
		t.Fatal(err)
	}
	if err := rec.Store(ctx, false, es); err != nil {
		t.Fatal(err)
	}
}

// TestCheckCandidate: a revoked opaque token is found as a candidate, by
// its length's marker; a string of another length is not even digested;
// the "not marked" a Checker remembers is forgotten when a revocation of
// that length arrives (the store's generation changed).
func TestCheckCandidate(t *testing.T) {
	ctx := context.Background()
	c, rec, _ := newCandidateChecker(t)
	revoked := "opaque-revoked-token-0123456789"
	other := "opaque-unrevoked-token-abcdefgh" // same length
	later := "a-token-revoked-later-of-another-length"
	if m, checked, err := c.CheckCandidate(ctx, nil, "", candidate(later)); err != nil || checked || m.Revoked {
		t.Fatalf("before any revocation: %v checked=%v err=%v; want skipped", m.Revoked, checked, err)
	}
	revoke(t, rec, revoked)
	if m, checked, err := c.CheckCandidate(ctx, nil, "", candidate(revoked)); err != nil || !checked || !m.Revoked {
		t.Errorf("the revoked token as a candidate: revoked=%v checked=%v err=%v", m.Revoked, checked, err)
	}
	if m, checked, err := c.CheckCandidate(ctx, nil, "", candidate(other)); err != nil || !checked || m.Revoked {
		t.Errorf("another token of the revoked length: revoked=%v checked=%v err=%v; want checked, not revoked", m.Revoked, checked, err)
	}
	if _, checked, _ := c.CheckCandidate(ctx, nil, "", candidate(later)); checked {
		t.Errorf("a length no revoked token has was digested")
	}
	revoke(t, rec, later)
	if m, _, err := c.CheckCandidate(ctx, nil, "", candidate(later)); err != nil || !m.Revoked {
		t.Errorf("revoked after its length was remembered unmarked: revoked=%v err=%v", m.Revoked, err)
	}
}

// TestRevokedSecretPart: revoking a Sanctum "<id>|<secret>" token revokes
// its secret, however the id is spelled.
func TestRevokedSecretPart(t *testing.T) {
	ctx := context.Background()
	c, rec, _ := newCandidateChecker(t)
	secret := "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rAbCdEf01"
	revoke(t, rec, "5|"+secret)
	for _, s := range []string{secret, "5|" + secret} {
		if m, _, err := c.CheckCandidate(ctx, nil, "", candidate(s)); err != nil || !m.Revoked {
			t.Errorf("%q after revoking 5|<secret>: revoked=%v err=%v", s, m.Revoked, err)
		}
	}
}

// TestRevokedInAnyCase: an upstream that looks opaque tokens up with a
// case-insensitive collation accepts every case variant of a revoked
// token, so a revoked opaque token (and its Sanctum secret part) is
// revoked in every case, read by name (Check) or found anywhere
// (CheckCandidate); a token that differs by more than case is not, nor
// is a JWT changed in case.
func TestRevokedInAnyCase(t *testing.T) {
	ctx := context.Background()
	c, rec, _ := newCandidateChecker(t)
	mixed := "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rAbCdEf01"
	revoke(t, rec, mixed)
	secret := "Ab3dEf6hIj9lMn2pQr5tUv8xYz1bCd4fGh7jKl0n"
	revoke(t, rec, "7|"+secret)
	lower := "lower-case-token-revoked-0123456789abcdef"
	revoke(t, rec, lower)
	for _, s := range []string{mixed, strings.ToLower(mixed), strings.ToUpper(mixed), "yZ7KqP2RvT9WxB4NlM8SdF6GhJ3KpQ1RaBcDeF01",
		strings.ToUpper(secret), "7|" + strings.ToLower(secret), strings.ToUpper(lower)} {
		if m, err := c.Check(ctx, "", s); err != nil || !m.Revoked {
			t.Errorf("Check(%q): revoked=%v err=%v; want revoked", s, m.Revoked, err)
		}
		if m, _, err := c.CheckCandidate(ctx, nil, "", candidate(s)); err != nil || !m.Revoked {
			t.Errorf("CheckCandidate(%q): revoked=%v err=%v; want revoked", s, m.Revoked, err)
		}
	}
	for _, s := range []string{"Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rAbCdEf02", "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rAbCdEf0"} {
		if m, err := c.Check(ctx, "", s); err != nil || m.Revoked {
			t.Errorf("Check(%q), not a case variant: revoked=%v err=%v", s, m.Revoked, err)
		}
	}
	jwt := testJWT(`{"iss":"i","sub":"u","jti":"cased"}`)
	revoke(t, rec, jwt)
	if m, err := c.Check(ctx, "", strings.ToLower(jwt)); err != nil || m.Revoked {
		t.Errorf("a revoked JWT in lower case: revoked=%v err=%v; want not revoked (its own bytes are signed)", m.Revoked, err)
	}
}

// TestJWTWithTrailingDotsIsTheJWT: revoking "T." revokes T, and "T.."
// is checked as T.
func TestJWTWithTrailingDotsIsTheJWT(t *testing.T) {
	ctx := context.Background()
	c, rec, _ := newCandidateChecker(t)
	jwt := testJWT(`{"iss":"i","sub":"u","jti":"trailing"}`)
	revoke(t, rec, jwt+".")
	for _, s := range []string{jwt, jwt + "..", "s:" + jwt + ".hmac"} {
		m, err := c.Check(ctx, "", s)
		if err != nil || !m.Revoked {
			t.Errorf("Check(%q) after revoking T.: revoked=%v err=%v", s, m.Revoked, err)
		}
	}
}

// countingStore is a store without a generation (as Redis in direct
// mode) that counts its checks.
type countingStore struct {
	denylist.Store
	checks int
}

func (s *countingStore) Check(ctx context.Context, q *denylist.Query) (denylist.Match, error) {
	s.checks++
	return s.Store.Check(ctx, q)
}

// TestAskLengthsBatches: a store without a generation is asked about the
// lengths of a request's strings denylist.MaxQueryKeys at a time, and each string is then
// checked from those answers; a revoked one among them is still found.
func TestAskLengthsBatches(t *testing.T) {
	ctx := context.Background()
	_, rec, s := newCandidateChecker(t)
	keys := &Keys{Hasher: denylist.NewHasher([]byte("k"))}
	cs := &countingStore{Store: s}
	c := NewChecker(keys, cs, nil)
	var cands []token.Candidate
	var lengths []int
	for n := 20; n < 22+denylist.MaxQueryKeys; n++ {
		cands = append(cands, token.Candidate{S: strings.Repeat("x", n)})
		lengths = append(lengths, n)
	}
	var st CandidateState
	if err := c.AskLengths(ctx, &st, lengths); err != nil {
		t.Fatal(err)
	}
	if cs.checks != 2 {
		t.Errorf("%d unmarked lengths: %d round trips, want 2 (%d lengths a query)", len(lengths), cs.checks, denylist.MaxQueryKeys)
	}
	for _, cand := range cands {
		if _, checked, _ := c.CheckCandidate(ctx, &st, "", candidate(cand.S)); checked {
			t.Errorf("%d bytes: checked, want skipped from the request's answers", len(cand.S))
		}
	}
	if cs.checks != 2 {
		t.Errorf("the strings' checks asked the store again: %d round trips", cs.checks)
	}
	revoke(t, rec, strings.Repeat("x", 25))
	st = CandidateState{}
	if err := c.AskLengths(ctx, &st, lengths); err != nil {
		t.Fatal(err)
	}
	m, checked, err := c.CheckCandidate(ctx, &st, "", candidate(strings.Repeat("x", 25)))
	if err != nil || !checked || !m.Revoked {
		t.Errorf("the revoked string among them: revoked=%v checked=%v err=%v", m.Revoked, checked, err)
	}
}

// candidate is s as token.Candidates hands it out.
func candidate(s string) token.Candidate {
	return token.Candidate{S: s, JWT: token.LooksLikeJWT(s)}
}

// TestSkippableLengths: the lengths handed to the scan as skippable are
// those known unmarked at the store's generation, never a marked one, and
// none once the generation moved on.
func TestSkippableLengths(t *testing.T) {
	ctx := context.Background()
	c, rec, _ := newCandidateChecker(t)
	revoke(t, rec, strings.Repeat("r", 40))
	var st CandidateState
	for _, n := range []int{20, 40, 60} {
		if _, err := c.LengthMarked(ctx, &st, n); err != nil {
			t.Fatal(err)
		}
	}
	var set token.LengthSet
	c.SkippableLengths(ctx, &st, &set)
	if !set.Has(20) || !set.Has(60) || set.Has(40) || set.Has(30) {
		t.Errorf("skippable 20 %v, 60 %v (want both); 40 %v (marked), 30 %v (never asked): want neither",
			set.Has(20), set.Has(60), set.Has(40), set.Has(30))
	}
	revoke(t, rec, strings.Repeat("r", 20))
	var later CandidateState
	var after token.LengthSet
	c.SkippableLengths(ctx, &later, &after)
	if after.Has(20) || after.Has(60) {
		t.Errorf("after another revocation, lengths still skippable: 20 %v, 60 %v", after.Has(20), after.Has(60))
	}
}

// TestSkippableLengthsAsksTheShortOnes: the lengths below MinJWTLength are
// asked when unknown, so a scan skips them all when none is marked (and
// looks at runs of MinJWTLength bytes); a marked one never is skipped.
func TestSkippableLengthsAsksTheShortOnes(t *testing.T) {
	ctx := context.Background()
	c, rec, _ := newCandidateChecker(t)
	revoke(t, rec, strings.Repeat("r", 40))
	var st CandidateState
	var set token.LengthSet
	c.SkippableLengths(ctx, &st, &set)
	for n := token.MinCandidateLength; n < token.MinJWTLength; n++ {
		if !set.Has(n) {
			t.Errorf("length %d, never asked and not marked, is not skippable", n)
		}
	}
	if set.Has(40) {
		t.Error("the marked length 40 is skippable")
	}
	revoke(t, rec, strings.Repeat("r", 17))
	var later CandidateState
	var after token.LengthSet
	c.SkippableLengths(ctx, &later, &after)
	if after.Has(17) || !after.Has(16) || !after.Has(18) {
		t.Errorf("after a 17-byte token's revocation: 16 %v, 17 %v, 18 %v; want 16 and 18 only",
			after.Has(16), after.Has(17), after.Has(18))
	}
}

// TestRevokedInAnySpelling: a string is revoked when the lower-case
// spelling of its skeleton (token.Skeleton) is a revoked token's, as a
// database comparing at the primary level finds it (the spellings below
// are those PostgreSQL's ICU "und-u-ks-level1" finds "abcdefghijklmnop"
// with), trimmed of white space at either end (PHP's trim(), PAD SPACE
// collations); a string whose skeleton differs stays not revoked.
func TestRevokedInAnySpelling(t *testing.T) {
	ctx := context.Background()
	c, rec, _ := newCandidateChecker(t)
	revoke(t, rec, "Abcdefghijklmnop0")
	for _, s := range []string{
		"ábcdefghijklmnop0", "abc\u200bdefghijklmnop0", "ａｂｃdefghijklmnop0", "abc\u00addefghijklmnop0",
		"abcdefghijklmnop\u03010", "abcdefghijKlmnop0", "abcdefghijklmnøp0", "abcdefghijklmnop\ufe0f0",
		"𝐚bcdefghijklmnop0", "ⓐbcdefghijklmnop0", "abc\x01defghijklmnop0", "abc\x7fdefghijklmnop0",
		"abcdefghijklmnoᵖ0", "abcdefghijklmñop0", "abcdefghijklmnoℙ0", "\ufeffabcdefghijklmnop0",
		"abcdefghijklmnop\u0660", "abcdefghijklmnop\u2070", "ABCDEFGHİJKLMNOP0", "abcdefghıjklmnop0",
		// ISO-8859-1 "é"; white space at the ends, trimmed
		"abcd\xe9fghijklmnop0", "abcdefghijklmnop0 ", " \tAbcdefghijklmnop0\r\n", "abcdefghijklmnop0\u00a0",
	} {
		if m, err := c.Check(ctx, "", s); err != nil || !m.Revoked {
			t.Errorf("Check(%q): revoked=%v err=%v; want revoked", s, m.Revoked, err)
		}
	}
	for _, s := range []string{"abcdefghijklmnoþ0", "abcdefgнijklmnop0", "abcdefghijklmnop 0", "abcdefghijklmnop\t0", "abcdefghijklmnop\u30000"} {
		if m, err := c.Check(ctx, "", s); err != nil || m.Revoked {
			t.Errorf("Check(%q), another skeleton: revoked=%v err=%v; want not revoked", s, m.Revoked, err)
		}
	}
}
