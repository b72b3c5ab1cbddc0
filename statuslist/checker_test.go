package statuslist

import (
	"bytes"
	"compress/zlib"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

func compress(t testing.TB, data []byte) string {
	t.Helper()
	var b bytes.Buffer
	w, _ := zlib.NewWriterLevel(&b, zlib.BestCompression)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return base64.RawURLEncoding.EncodeToString(b.Bytes())
}

// goIssuer serves Status List Tokens it signs with go-jose, to test what
// the Checker refuses; the real issuer is in issuer_test.go.
type goIssuer struct {
	t      testing.TB
	key    *ecdsa.PrivateKey
	srv    *httptest.Server
	mu     sync.Mutex
	data   []byte
	bits   int
	header map[jose.HeaderKey]any
	claims map[string]any // overrides: a nil value removes the claim
	status int            // answer this status instead
	ctype  string
	block  chan struct{} // when set, a fetch waits for it to close
	hits   atomic.Int64
}

func newGoIssuer(t testing.TB) *goIssuer {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	g := &goIssuer{t: t, key: k, bits: 1, data: make([]byte, 16), ctype: MediaType}
	mux := http.NewServeMux()
	mux.HandleFunc("/list", g.serve)
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/list", http.StatusFound)
	})
	g.srv = httptest.NewServer(mux)
	t.Cleanup(g.srv.Close)
	return g
}

func (g *goIssuer) uri() string { return g.srv.URL + "/list" }

// issuer is the iss of the tokens whose lists g serves.
func (g *goIssuer) issuer() string { return g.srv.URL }

func (g *goIssuer) set(f func(g *goIssuer)) {
	g.mu.Lock()
	defer g.mu.Unlock()
	f(g)
}

func (g *goIssuer) serve(w http.ResponseWriter, r *http.Request) {
	g.hits.Add(1)
	g.mu.Lock()
	block := g.block
	g.mu.Unlock()
	if block != nil {
		<-block
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if r.Header.Get("Accept") != MediaType {
		http.Error(w, "Accept", http.StatusNotAcceptable)
		return
	}
	if g.status != 0 {
		w.WriteHeader(g.status)
		return
	}
	w.Header().Set("Content-Type", g.ctype)
	w.Write([]byte(g.sign(g.key)))
}

// sign makes the Status List Token of g's list, signed with key.
func (g *goIssuer) sign(key *ecdsa.PrivateKey) string {
	now := time.Now().Unix()
	claims := map[string]any{
		"iss": g.issuer(), "sub": g.uri(), "iat": now, "exp": now + 3600, "ttl": 300,
		"status_list": map[string]any{"bits": g.bits, "lst": compress(g.t, g.data)},
	}
	for k, v := range g.claims {
		if v == nil {
			delete(claims, k)
		} else {
			claims[k] = v
		}
	}
	hdr := map[jose.HeaderKey]any{"typ": "statuslist+jwt"}
	for k, v := range g.header {
		hdr[k] = v
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, &jose.SignerOptions{ExtraHeaders: hdr})
	if err != nil {
		g.t.Fatal(err)
	}
	p, _ := json.Marshal(claims)
	jws, err := s.Sign(p)
	if err != nil {
		g.t.Fatal(err)
	}
	out, _ := jws.CompactSerialize()
	return out
}

// keys verifies with g's public key through jwtverify, as the glue will.
func (g *goIssuer) keys() Keys {
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &g.key.PublicKey, Algorithm: "ES256"})
	v, err := jwtverify.New(jwtverify.Config{Issuer: g.issuer(), PublicKeys: [][]byte{jwk}})
	if err != nil {
		g.t.Fatal(err)
	}
	set, err := jwtverify.NewSet(v)
	if err != nil {
		g.t.Fatal(err)
	}
	return VerifierKeys{Set: set}
}

// newChecker makes a Checker whose first checks wait for the first fetch
// to end (a minute at most, unless cfg says otherwise), so that a loaded
// machine does not turn its answer into ErrNotFetched.
func newChecker(t testing.TB, cfg Config) *Checker {
	t.Helper()
	if cfg.FirstFetchWait == 0 {
		cfg.FirstFetchWait = time.Minute
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// waitFor polls cond until it holds, failing the test after 30s.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCheckReadsTheList(t *testing.T) {
	g := newGoIssuer(t)
	g.set(func(g *goIssuer) { g.bits = 2; g.data = []byte{0b11_10_01_00, 0} })
	c := newChecker(t, Config{Keys: g.keys()})
	ctx := context.Background()
	for idx, want := range map[uint64]Result{
		0: {Verdict: Pass},
		1: {Verdict: Rejected, Status: Invalid},
		2: {Verdict: Rejected, Status: Suspended},
		3: {Verdict: Rejected, Status: 3},
		7: {Verdict: Pass},
		8: {Verdict: Rejected, Err: ErrIndexOutOfRange},
	} {
		if got := c.Check(ctx, g.issuer(), Reference{URI: g.uri(), Index: idx}); got != want {
			t.Errorf("idx %d: %+v, want %+v", idx, got, want)
		}
	}
	if n := g.hits.Load(); n != 1 {
		t.Errorf("%d fetches for 6 checks, want 1", n)
	}
	ls := c.Lists()
	if len(ls) != 1 {
		t.Fatalf("Lists: %+v, want one", ls)
	}
	if l := ls[0]; !l.Held || l.Bits != 2 || l.Entries != 8 || l.URI != g.uri() || l.Issuer != g.issuer() || l.Err != nil ||
		!l.FetchedAt.Before(l.RefreshAt) || !l.RefreshAt.Before(l.UsableUntil) || l.IssuedAt.IsZero() {
		t.Errorf("Lists: %+v", l)
	}
}

// TestCheckRefuses: each list the draft (or this package) says not to
// trust answers Unknown, with the reason.
func TestCheckRefuses(t *testing.T) {
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		set  func(g *goIssuer)
		path string
		want string
	}{
		"typ JWT":            {set: func(g *goIssuer) { g.header = map[jose.HeaderKey]any{"typ": "JWT"} }, want: `typ "JWT"`},
		"sub another uri":    {set: func(g *goIssuer) { g.claims = map[string]any{"sub": "https://elsewhere/list"} }, want: "sub"},
		"no sub":             {set: func(g *goIssuer) { g.claims = map[string]any{"sub": nil} }, want: "sub is missing"},
		"no iat":             {set: func(g *goIssuer) { g.claims = map[string]any{"iat": nil} }, want: "iat is missing"},
		"iss another":        {set: func(g *goIssuer) { g.claims = map[string]any{"iss": "https://other"} }, want: "iss"},
		"expired":            {set: func(g *goIssuer) { g.claims = map[string]any{"exp": time.Now().Add(-time.Hour).Unix()} }, want: "expired"},
		"ttl 0":              {set: func(g *goIssuer) { g.claims = map[string]any{"ttl": 0} }, want: "ttl"},
		"bits 3":             {set: func(g *goIssuer) { g.bits = 3 }, want: "bits 3"},
		"content type":       {set: func(g *goIssuer) { g.ctype = "application/jwt" }, want: "Content-Type"},
		"503":                {set: func(g *goIssuer) { g.status = http.StatusServiceUnavailable }, want: "status 503"},
		"redirect":           {path: "/redirect", want: "redirect"},
		"signed by another":  {set: func(g *goIssuer) { g.key = other }, want: "signature"},
		"larger than max":    {set: func(g *goIssuer) { g.data = randomBytes(t, 1<<16) }, want: "max_size"},
		"decompressed large": {set: func(g *goIssuer) { g.data = make([]byte, 1<<21) }, want: "decompresses"},
	} {
		t.Run(name, func(t *testing.T) {
			g := newGoIssuer(t)
			keys := g.keys() // before the key is replaced
			if tc.set != nil {
				g.set(tc.set)
			}
			uri := g.uri()
			if tc.path != "" {
				uri = g.srv.URL + tc.path
			}
			c := newChecker(t, Config{Keys: keys, MaxSize: 1 << 15, MaxListBytes: 1 << 20})
			got := c.Check(context.Background(), g.issuer(), Reference{URI: uri})
			if got.Verdict != Unknown || got.Err == nil || !strings.Contains(got.Err.Error(), tc.want) {
				t.Fatalf("%+v, want unknown, the error saying %q", got, tc.want)
			}
		})
	}
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCheckAllowHosts(t *testing.T) {
	g := newGoIssuer(t)
	ref := Reference{URI: g.uri()}
	// Default: the issuer's host only.
	c := newChecker(t, Config{Keys: g.keys()})
	if got := c.Check(context.Background(), "https://idp.example.com", ref); !errors.Is(got.Err, ErrHostNotAllowed) {
		t.Errorf("list on another host than the issuer's: %+v, want host not allowed", got)
	}
	c = newChecker(t, Config{Keys: g.keys(), AllowHosts: []string{"lists.example.com"}})
	if got := c.Check(context.Background(), g.issuer(), ref); !errors.Is(got.Err, ErrHostNotAllowed) {
		t.Errorf("host outside allow_hosts: %+v, want host not allowed", got)
	}
	if got := c.Check(context.Background(), g.issuer(), Reference{URI: "file:///etc/passwd"}); !errors.Is(got.Err, ErrHostNotAllowed) {
		t.Errorf("file uri: %+v, want refused", got)
	}
	if n := g.hits.Load(); n != 0 {
		t.Errorf("%d fetches from hosts not allowed", n)
	}
	c = newChecker(t, Config{Keys: g.keys(), AllowHosts: []string{"127.0.0.1"}})
	if got := c.Check(context.Background(), g.issuer(), ref); got.Verdict != Pass {
		t.Errorf("allowed host (any port): %+v, want pass", got)
	}
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"*.example.com", "lists.example.com", true},
		{"*.example.com", "a.b.example.com:8443", true},
		{"*.example.com", "example.com", false},
		{"*.example.com", "evilexample.com", false},
		{"example.com:8443", "example.com", false},
		{"Example.COM", "example.com:443", true},
		{"::1", "[::1]:8443", true},
		{"[::1]", "[::1]:8443", true},
		{"[::1]:8443", "[::1]:8443", true},
		{"[::1]:8443", "[::1]:9443", false},
		{"::1", "[::2]:8443", false},
	} {
		if got := hostMatches(tc.pattern, tc.host); got != tc.want {
			t.Errorf("hostMatches(%q, %q) = %v", tc.pattern, tc.host, got)
		}
	}
}

// TestFirstFetchOnceAndBounded: checks of a list never fetched share one
// fetch, wait for it at most FirstFetchWait, then are Unknown; once it
// lands they pass without another fetch.
func TestFirstFetchOnceAndBounded(t *testing.T) {
	g := newGoIssuer(t)
	block := make(chan struct{})
	g.set(func(g *goIssuer) { g.block = block })
	c := newChecker(t, Config{Keys: g.keys(), FirstFetchWait: 20 * time.Millisecond})
	ref := Reference{URI: g.uri(), Index: 1}
	var wg sync.WaitGroup
	results := make([]Result, 50)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.Check(context.Background(), g.issuer(), ref)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.Verdict != Unknown || !errors.Is(r.Err, ErrNotFetched) {
			t.Fatalf("check %d while the first fetch hangs: %+v, want unknown, not fetched", i, r)
		}
	}
	g.set(func(g *goIssuer) { g.block = nil })
	close(block)
	waitFor(t, "the first fetch", func() bool { return c.Check(context.Background(), g.issuer(), ref).Verdict == Pass })
	if n := g.hits.Load(); n != 1 {
		t.Errorf("%d fetches for 50 concurrent checks and the ones after, want 1", n)
	}
}

// TestStaleWithinBound: a list whose issuer is down is still used until
// MaxStale after it should have been refreshed, then Unknown; never past
// its exp; and used again once the issuer answers.
func TestStaleWithinBound(t *testing.T) {
	g := newGoIssuer(t)
	g.set(func(g *goIssuer) { g.data[0] = 0b10 }) // idx 1 revoked
	c := newChecker(t, Config{Keys: g.keys(), MaxStale: 10 * time.Minute, RefreshMin: time.Minute, RefreshMax: 2 * time.Hour})
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	advance := func(d time.Duration) { clock.Add(int64(d)) }
	ref := Reference{URI: g.uri()}
	check := func() Result { return c.Check(context.Background(), g.issuer(), ref) }
	if got := check(); got.Verdict != Pass {
		t.Fatalf("first check: %+v", got)
	}
	l := (*c.lists.Load())[listKey{g.issuer(), g.uri()}]
	g.set(func(g *goIssuer) { g.status = http.StatusServiceUnavailable })
	l.kick <- struct{}{}
	waitFor(t, "the failed refresh", func() bool { return l.err.Load() != nil })
	// ttl 300s: fresh 5m, then stale for 10m.
	advance(14 * time.Minute)
	if got := check(); got.Verdict != Pass {
		t.Fatalf("14m after the fetch (ttl 5m, max_stale 10m), issuer down: %+v, want the stale list used", got)
	}
	if got := c.Check(context.Background(), g.issuer(), Reference{URI: g.uri(), Index: 1}); got.Verdict != Rejected {
		t.Fatalf("revoked entry of the stale list: %+v", got)
	}
	advance(2 * time.Minute)
	l.kick <- struct{}{} // the refresher's timer, on the fake clock
	waitFor(t, "the stale list dropped", func() bool { return check().Verdict == Unknown })
	if got := check(); !errors.Is(got.Err, ErrStale) || !strings.Contains(got.Err.Error(), "status 503") {
		t.Fatalf("16m after the fetch, issuer down: %+v, want stale, saying why the refresh failed", got)
	}
	g.set(func(g *goIssuer) { g.status = 0 })
	l.kick <- struct{}{}
	waitFor(t, "the refresh", func() bool { return check().Verdict == Pass })

	// exp bounds the stale copy: a list with exp 6m, ttl 5m, is not used
	// after 6m (+ the clock skew) even within max_stale.
	g.set(func(g *goIssuer) {
		g.claims = map[string]any{"exp": time.Unix(0, clock.Load()).Add(6 * time.Minute).Unix()}
	})
	l.kick <- struct{}{}
	waitFor(t, "the refresh", func() bool { return l.snap.Load().usableUntil.Before(time.Unix(0, clock.Load()).Add(8 * time.Minute)) })
	g.set(func(g *goIssuer) { g.status = http.StatusServiceUnavailable })
	advance(8 * time.Minute)
	l.kick <- struct{}{}
	waitFor(t, "the list dropped past its exp", func() bool { return check().Verdict == Unknown })
}

func TestReadReference(t *testing.T) {
	for _, tc := range []struct {
		payload string
		ok      bool
		err     bool
		want    Reference
	}{
		{`{"status":{"status_list":{"idx":7,"uri":"https://i/l"}}}`, true, false, Reference{URI: "https://i/l", Index: 7}},
		{`{"sub":"x"}`, false, false, Reference{}},
		{`{"status":{"other":{}}}`, false, false, Reference{}},
		{`{"status":{"status_list":{"idx":-1,"uri":"https://i/l"}}}`, false, true, Reference{}},
		{`{"status":{"status_list":{"idx":1.5,"uri":"https://i/l"}}}`, false, true, Reference{}},
		{`{"status":{"status_list":{"idx":"1","uri":"https://i/l"}}}`, false, true, Reference{}},
		{`{"status":{"status_list":{"uri":"https://i/l"}}}`, false, true, Reference{}},
		{`{"status":{"status_list":{"idx":1}}}`, false, true, Reference{}},
	} {
		ref, ok, err := ReadReference([]byte(tc.payload))
		if ok != tc.ok || (err != nil) != tc.err || ref != tc.want {
			t.Errorf("%s: %+v %v %v, want %+v %v err=%v", tc.payload, ref, ok, err, tc.want, tc.ok, tc.err)
		}
	}
}

// TestEntry: an Entry answers as Check does, and finds its list again once
// it was dropped (idle) from the lists.
func TestEntry(t *testing.T) {
	g := newGoIssuer(t)
	g.set(func(g *goIssuer) { g.data[0] = 0b10 }) // idx 1 revoked
	c := newChecker(t, Config{Keys: g.keys()})
	revoked := c.Resolve(g.issuer(), Reference{URI: g.uri(), Index: 1})
	valid := c.Resolve(g.issuer(), Reference{URI: g.uri(), Index: 2})
	ctx := context.Background()
	if got := revoked.Check(ctx); got != (Result{Verdict: Rejected, Status: Invalid}) {
		t.Fatalf("revoked entry: %+v", got)
	}
	if got := valid.Check(ctx); got.Verdict != Pass {
		t.Fatalf("valid entry: %+v", got)
	}
	c.remove(valid.l)
	if got := valid.Check(ctx); got.Verdict != Pass {
		t.Fatalf("valid entry after its list was dropped: %+v", got)
	}
	if got := revoked.Check(ctx); got != (Result{Verdict: Rejected, Status: Invalid}) {
		t.Fatalf("revoked entry after its list was dropped: %+v", got)
	}
	if n := g.hits.Load(); n != 2 {
		t.Errorf("%d fetches, want 2: one before the list was dropped, one after", n)
	}
	bad := c.Resolve(g.issuer(), Reference{URI: "https://elsewhere.example/list"})
	if got := bad.Check(ctx); !errors.Is(got.Err, ErrHostNotAllowed) {
		t.Errorf("entry of a list on a host not allowed: %+v", got)
	}
}

// TestRefreshRefusesAnOlderList: a refresh that brings a list issued
// before the one held (a stale cache between issuer and gateway) is
// refused, so a token revoked since stays revoked.
func TestRefreshRefusesAnOlderList(t *testing.T) {
	g := newGoIssuer(t)
	g.set(func(g *goIssuer) { g.data[0] = 0b10 }) // idx 1 revoked
	c := newChecker(t, Config{Keys: g.keys()})
	ref := Reference{URI: g.uri(), Index: 1}
	if got := c.Check(context.Background(), g.issuer(), ref); got.Verdict != Rejected {
		t.Fatalf("revoked entry: %+v", got)
	}
	l := (*c.lists.Load())[listKey{g.issuer(), g.uri()}]
	g.set(func(g *goIssuer) {
		g.data[0] = 0 // the list as it was an hour ago
		g.claims = map[string]any{"iat": time.Now().Add(-time.Hour).Unix()}
	})
	l.kick <- struct{}{}
	waitFor(t, "the refresh", func() bool { return l.err.Load() != nil })
	if err := *l.err.Load(); !errors.Is(err, ErrInvalidList) || !strings.Contains(err.Error(), "older") {
		t.Errorf("refresh error: %v, want the older list refused", err)
	}
	if got := c.Check(context.Background(), g.issuer(), ref); got.Verdict != Rejected {
		t.Fatalf("revoked entry after an older list was served: %+v, want still rejected", got)
	}
}
