package statuslist

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/statusissuer"
	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// nodeIssuer is testdata/issuer/issuer.mjs: Status List Tokens made by
// the OpenWallet Foundation's @sd-jwt/jwt-status-list, served by Node on a
// free loopback port.
type nodeIssuer struct {
	t    testing.TB
	base string
}

// startNodeIssuer starts the issuer (internal/statusissuer), or skips
// the test when node or its npm packages are missing, outside CI.
func startNodeIssuer(t testing.TB) *nodeIssuer {
	t.Helper()
	return &nodeIssuer{t: t, base: statusissuer.Start(t, "testdata/issuer")}
}

// call sends method path to the issuer and decodes its JSON answer.
func (n *nodeIssuer) call(method, path string, out any) {
	n.t.Helper()
	req, _ := http.NewRequest(method, n.base+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		n.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		n.t.Fatalf("%s %s: status %d", method, path, resp.StatusCode)
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			n.t.Fatal(err)
		}
	}
}

func (n *nodeIssuer) newList(name string, bits, size, ttl, exp int) {
	n.call("POST", fmt.Sprintf("/admin/list?name=%s&bits=%d&size=%d&ttl=%d&exp=%d", name, bits, size, ttl, exp), nil)
}

func (n *nodeIssuer) setStatus(name string, idx int, value Status) {
	n.call("POST", fmt.Sprintf("/admin/status?name=%s&idx=%d&value=%d", name, idx, value), nil)
}

func (n *nodeIssuer) token(name string, idx int) string {
	var out struct{ Token string }
	n.call("POST", fmt.Sprintf("/admin/token?name=%s&idx=%d", name, idx), &out)
	return out.Token
}

func (n *nodeIssuer) fetches(name string) int {
	var out struct{ Fetches int }
	n.call("GET", "/admin/fetches?name="+name, &out)
	return out.Fetches
}

// verifier verifies the issuer's tokens with its JWKS, as a jwt block
// with jwks_url does.
func (n *nodeIssuer) verifier() *jwtverify.Set {
	v, err := jwtverify.New(jwtverify.Config{Issuer: n.base, JWKSURL: n.base + "/jwks"})
	if err != nil {
		n.t.Fatal(err)
	}
	set, err := jwtverify.NewSet(v)
	if err != nil {
		n.t.Fatal(err)
	}
	n.t.Cleanup(set.Close)
	return set
}

// check verifies a token of list name, entry idx, reads its status claim
// and checks it, as the glue will.
func (n *nodeIssuer) check(c *Checker, set *jwtverify.Set, name string, idx int) Result {
	n.t.Helper()
	ctx := context.Background()
	tok, err := set.Verify(ctx, n.token(name, idx), jwtverify.Options{})
	if err != nil {
		n.t.Fatal(err)
	}
	ref, ok, err := ReadReference(tok.Payload)
	if !ok || err != nil {
		n.t.Fatalf("the token's status claim: %v %v", ok, err)
	}
	return c.Check(ctx, tok.Claims.Issuer, ref)
}

// TestNodeIssuer checks tokens against lists of each bits size issued,
// revoked and suspended by @sd-jwt/jwt-status-list, verified with the
// issuer's JWKS: VALID passes, every other value is rejected with its
// status, an index beyond the list is rejected, and each list is fetched
// once however many checks read it.
func TestNodeIssuer(t *testing.T) {
	n := startNodeIssuer(t)
	set := n.verifier()
	c := newChecker(t, Config{Keys: VerifierKeys{Set: set}})
	type entry struct {
		idx    int
		status Status
	}
	for _, tc := range []struct {
		bits, size int
		set        []entry
	}{
		{1, 1_000_000, []entry{{3, Invalid}, {999_999, Invalid}}},
		{2, 100_000, []entry{{3, Invalid}, {5, Suspended}, {7, 3}}},
		{4, 100_000, []entry{{3, Invalid}, {5, Suspended}, {7, 0x0C}}},
		{8, 100_000, []entry{{3, Invalid}, {5, Suspended}, {7, 200}}},
	} {
		name := fmt.Sprintf("bits%d", tc.bits)
		t.Run(name, func(t *testing.T) {
			n.newList(name, tc.bits, tc.size, 3600, 7200)
			for _, e := range tc.set {
				n.setStatus(name, e.idx, e.status)
			}
			want := map[int]Result{0: {Verdict: Pass}, 4: {Verdict: Pass}, tc.size - 2: {Verdict: Pass}}
			for _, e := range tc.set {
				want[e.idx] = Result{Verdict: Rejected, Status: e.status}
			}
			want[tc.size+1000] = Result{Verdict: Rejected, Err: ErrIndexOutOfRange}
			for idx, w := range want {
				if got := n.check(c, set, name, idx); got != w {
					t.Errorf("idx %d: %+v, want %+v", idx, got, w)
				}
			}
			if f := n.fetches(name); f != 1 {
				t.Errorf("%d fetches for %d checks, want 1", f, len(want))
			}
		})
	}

	// 200 checks at once of a list never fetched: one fetch.
	n.newList("burst", 2, 1000, 3600, 7200)
	tok, err := set.Verify(context.Background(), n.token("burst", 1), jwtverify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ref, _, _ := ReadReference(tok.Payload)
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Check(context.Background(), n.base, ref)
		}()
	}
	wg.Wait()
	waitFor(t, "the burst's list", func() bool { return c.Check(context.Background(), n.base, ref).Verdict == Pass })
	if f := n.fetches("burst"); f != 1 {
		t.Errorf("%d fetches for 200 concurrent first checks, want 1", f)
	}
}

// TestNodeIssuerRefresh: a list is refreshed in the background per its
// ttl, so a revocation, a suspension and its lifting at the issuer reach
// the checks with no request fetching anything.
func TestNodeIssuerRefresh(t *testing.T) {
	n := startNodeIssuer(t)
	set := n.verifier()
	c := newChecker(t, Config{Keys: VerifierKeys{Set: set}, RefreshMin: time.Second})
	n.newList("live", 2, 1000, 1, 3600)
	status := func(idx int) func() Result { return func() Result { return n.check(c, set, "live", idx) } }
	if got := status(4)(); got.Verdict != Pass {
		t.Fatalf("before the revocation: %+v", got)
	}
	for _, step := range []struct {
		what  string
		idx   int
		value Status
		want  Result
	}{
		{"revoked", 4, Invalid, Result{Verdict: Rejected, Status: Invalid}},
		{"suspended", 6, Suspended, Result{Verdict: Rejected, Status: Suspended}},
		{"suspension lifted", 6, Valid, Result{Verdict: Pass}},
	} {
		n.setStatus("live", step.idx, step.value)
		get := status(step.idx)
		waitFor(t, step.what+" at the issuer to reach the check", func() bool { return get() == step.want })
	}
}

// TestNodeIssuerDown: while the issuer answers 503, its list is still
// used up to max_stale after it should have been refreshed, then the
// checks are Unknown (the fail mode decides), saying why; once the issuer
// answers again they pass. The Checker's clock is a fake one, moved by the
// test; the refresher is woken by the test rather than waited for.
func TestNodeIssuerDown(t *testing.T) {
	n := startNodeIssuer(t)
	set := n.verifier()
	c := newChecker(t, Config{Keys: VerifierKeys{Set: set}, MaxStale: 10 * time.Minute})
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	c.now = func() time.Time { return time.Unix(0, clock.Load()) }
	n.newList("down", 1, 1000, 300, 3600) // ttl 5m, exp 1h
	if got := n.check(c, set, "down", 2); got.Verdict != Pass {
		t.Fatalf("issuer up: %+v", got)
	}
	l := (*c.lists.Load())[listKey{n.base, n.base + "/lists/down"}]
	n.call("POST", "/admin/down?name=down&down=1", nil)
	clock.Add(int64(14 * time.Minute))
	l.kick <- struct{}{}
	waitFor(t, "the failed refresh", func() bool { return l.err.Load() != nil })
	if got := n.check(c, set, "down", 2); got.Verdict != Pass {
		t.Fatalf("issuer down, 14m after the fetch (ttl 5m + max_stale 10m not reached): %+v, want the held list used", got)
	}
	clock.Add(int64(2 * time.Minute))
	l.kick <- struct{}{}
	waitFor(t, "the list dropped", func() bool { return n.check(c, set, "down", 2).Verdict == Unknown })
	if got := n.check(c, set, "down", 2); !errors.Is(got.Err, ErrStale) || !errors.Is(got.Err, ErrFetch) || !strings.Contains(got.Err.Error(), "503") {
		t.Errorf("issuer down past max_stale: %v, want stale, the fetch answered 503", got.Err)
	}
	n.call("POST", "/admin/down?name=down&down=0", nil)
	l.kick <- struct{}{}
	waitFor(t, "the list fetched again", func() bool { return n.check(c, set, "down", 2).Verdict == Pass })
}
