package engine

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// newTestRecorder is a Recorder over an embedded store, at a fixed now.
func newTestRecorder(t *testing.T, now time.Time, verify func(context.Context, string) (*jwtverify.Token, error)) (*Recorder, *Keys, denylist.Store) {
	t.Helper()
	s, err := boltstore.OpenEmbedded(filepath.Join(t.TempDir(), "d.db"), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	keys := &Keys{Hasher: denylist.NewHasher(nil), ClockSkew: time.Minute}
	r := NewRecorder(keys, s, RecorderConfig{
		DefaultTTL: time.Hour, MaxTokenLifetime: 24 * time.Hour, ClockSkew: time.Minute,
		Verify: verify, Now: func() time.Time { return now },
	})
	return r, keys, s
}

// kinds lists the kinds of entries, in order.
func kinds(es []denylist.Entry) string {
	out := ""
	for _, e := range es {
		out += e.Kind.String() + " "
	}
	return out
}

func TestRecorderEntries(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	exp := strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
	refresh := token.Parse(testJWT(`{"iss":"i","sub":"u","sid":"S","jti":"J","typ":"Refresh","exp":` + exp + `}`))
	expired := token.Parse(testJWT(`{"iss":"i","jti":"J","exp":` + strconv.FormatInt(now.Add(-time.Hour).Unix(), 10) + `}`))
	opaque := token.Parse("opaque-token")
	cases := []struct {
		name string
		rev  Revocation
		want string
	}{
		{"opaque: its identity, for default_ttl", Revocation{Tokens: []token.Token{opaque}}, "token "},
		{"unverified JWT: its identity only", Revocation{Tokens: []token.Token{refresh}, SessionWide: true}, "token "},
		{"vouched refresh token: identity, jti, session", Revocation{Tokens: []token.Token{refresh}, Vouched: true}, "token jti session "},
		{"a hint is not vouched for", Revocation{Hints: []token.Token{refresh}, Vouched: true}, "token "},
		{"expired: nothing left to revoke", Revocation{Tokens: []token.Token{expired}, Vouched: true}, ""},
		{"cut-offs", Revocation{Cutoffs: []Cutoff{{Kind: denylist.KindUser, Issuer: "i", ID: "u", At: now}}}, "user "},
	}
	for _, c := range cases {
		r, _, _ := newTestRecorder(t, now, nil)
		got, err := r.Entries(context.Background(), &c.rev)
		if err != nil || kinds(got) != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, kinds(got), err, c.want)
		}
	}
	r, _, _ := newTestRecorder(t, now, nil)
	es, _ := r.Entries(context.Background(), &Revocation{Tokens: []token.Token{opaque}})
	if es[0].Expires != now.Add(time.Hour).Unix() {
		t.Errorf("opaque token kept until %d, want now + default_ttl %d", es[0].Expires, now.Add(time.Hour).Unix())
	}
}

func TestRecorderKeysUnavailableFailsASessionEnd(t *testing.T) {
	now := time.Now()
	down := func(context.Context, string) (*jwtverify.Token, error) { return nil, jwtverify.ErrKeysUnavailable }
	r, _, _ := newTestRecorder(t, now, down)
	tok := token.Parse(testJWT(`{"iss":"i","sid":"S"}`))
	if _, err := r.Entries(context.Background(), &Revocation{Tokens: []token.Token{tok}, SessionWide: true}); !errors.Is(err, jwtverify.ErrKeysUnavailable) {
		t.Errorf("a logout with the keys unavailable: %v, want ErrKeysUnavailable (answered 503, not quietly less)", err)
	}
	if es, err := r.Entries(context.Background(), &Revocation{Tokens: []token.Token{tok}}); err != nil || kinds(es) != "token " {
		t.Errorf("a plain revocation with the keys unavailable: %q, %v; want the token itself", kinds(es), err)
	}
}

func TestRecorderReplay(t *testing.T) {
	now := time.Now()
	r, _, _ := newTestRecorder(t, now, nil)
	errReplay := errors.New("replayed")
	rev := &Revocation{Replay: &Replay{Issuer: "i", JTI: "J", Expires: now.Add(time.Hour), Err: errReplay}}
	es, err := r.Entries(context.Background(), rev)
	if err != nil || len(es) != 1 {
		t.Fatalf("first: %v %v", es, err)
	}
	if err := r.Store(context.Background(), false, es); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Entries(context.Background(), rev); !errors.Is(err, errReplay) {
		t.Errorf("second: %v, want the replay's error", err)
	}
}

func TestRecorderOwnersNeedAHolder(t *testing.T) {
	now := time.Now()
	r, keys, _ := newTestRecorder(t, now, nil)
	ctx := context.Background()
	owner := keys.UserOwner("", "org/app", "alice")
	if err := r.RecordOwned(ctx, "alice-token", 3600, owner); err != nil {
		t.Fatal(err)
	}
	notHolder := errors.New("not a holder")
	rev := Revocation{Owners: []denylist.Digest{owner}, NotHolder: notHolder, Holding: []token.Token{token.Parse("mallory-token")}}
	if _, err := r.Entries(ctx, &rev); !errors.Is(err, notHolder) {
		t.Errorf("a caller holding none of the owner's tokens: %v, want NotHolder", err)
	}
	rev.Holding = append(rev.Holding, token.Parse("alice-token"))
	if es, err := r.Entries(ctx, &rev); err != nil || len(es) != 1 || es[0].Key != keys.Token(&rev.Holding[1]) {
		t.Errorf("a caller holding one: %v, %v; want alice-token's entry", es, err)
	}
	rev.Holding, rev.Vouched = nil, true
	if es, err := r.Entries(ctx, &rev); err != nil || len(es) != 1 {
		t.Errorf("vouched for by the upstream: %v, %v; want the owner's tokens", es, err)
	}
}
