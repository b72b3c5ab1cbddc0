package ssf

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/boltstore"
	"github.com/caddy-token-revocation/caddy-token-revocation/engine"
)

const (
	idpTenant = "https://idp.example.com/123456789/" // the CAEP examples' token issuer
	idpRoot   = "https://idp.example.com/"           // the RISC examples'
)

// newReceiver starts a receiver of tx's stream, delivering as delivery.
func newReceiver(t *testing.T, tx *transmitter, delivery string, state State, rec *recorder, edit func(*Config)) (*Receiver, *Counters) {
	t.Helper()
	counters := NewCounters()
	cfg := Config{
		Issuer:            tx.Issuer,
		Delivery:          delivery,
		Auth:              BearerToken(tx.Bearer),
		Subjects:          Subjects{TokenIssuers: []string{idpTenant, idpRoot}},
		State:             state,
		Metrics:           counters,
		Apply:             rec.apply,
		ReturnImmediately: true,
		RetryBackoff:      10 * time.Millisecond,
		Logger:            zaptest.NewLogger(t),
	}
	var r *Receiver
	if delivery == "push" {
		push := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.ServeHTTP(w, req) }))
		t.Cleanup(push.Close)
		cfg.PushEndpoint = push.URL + "/ssf/push"
		cfg.PushAuthorization = "Bearer push-secret"
	}
	if edit != nil {
		edit(&cfg)
	}
	var err error
	if r, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, counters
}

func pollOnce(t *testing.T, r *Receiver) PollResult {
	t.Helper()
	res, err := r.PollOnce(context.Background(), false)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestWellKnownURL(t *testing.T) {
	for issuer, want := range map[string]string{
		"https://tr.example.com":          "https://tr.example.com/.well-known/ssf-configuration",
		"https://tr.example.com/":         "https://tr.example.com/.well-known/ssf-configuration",
		"https://tr.example.com/issuer1":  "https://tr.example.com/.well-known/ssf-configuration/issuer1",
		"http://127.0.0.1:8080/a/b":       "http://127.0.0.1:8080/.well-known/ssf-configuration/a/b",
		"https://tr.example.com/issuer1/": "https://tr.example.com/.well-known/ssf-configuration/issuer1",
	} {
		if got, err := WellKnownURL(issuer); err != nil || got != want {
			t.Errorf("WellKnownURL(%q) = %q, %v; want %q", issuer, got, err, want)
		}
	}
	for _, bad := range []string{"tr.example.com", "ftp://tr.example.com", "https://tr.example.com/?x=1"} {
		if _, err := WellKnownURL(bad); err == nil || !strings.HasPrefix(err.Error(), "token_revocation: ") {
			t.Errorf("WellKnownURL(%q) = %v, want a token_revocation: error", bad, err)
		}
	}
}

func TestDiscovery(t *testing.T) {
	tx := newTransmitter(t)
	tc, err := Discover(context.Background(), http.DefaultClient, tx.Issuer)
	if err != nil {
		t.Fatal(err)
	}
	if tc.JWKSURI != tx.Server.URL+"/jwks" || tc.ConfigurationEndpoint != tx.Server.URL+"/ssf/streams" || !tc.Supports(DeliveryPoll) || !tc.Supports(DeliveryPush) {
		t.Errorf("discovered %+v", tc)
	}
	// The same path with a trailing slash is another issuer: refused.
	if _, err := Discover(context.Background(), http.DefaultClient, tx.Issuer+"/"); err == nil || !strings.Contains(err.Error(), "names issuer") {
		t.Errorf("issuer with a trailing slash: %v, want the issuer mismatch", err)
	}
	if _, err := Discover(context.Background(), http.DefaultClient, tx.Server.URL+"/tenant2"); err == nil || !strings.Contains(err.Error(), "status 404") {
		t.Errorf("unknown issuer: %v, want status 404", err)
	}
}

func TestStreamCreateThenReuse(t *testing.T) {
	for _, auth := range []string{"bearer", "client_credentials"} {
		t.Run(auth, func(t *testing.T) {
			tx := newTransmitter(t)
			useAuth := func(c *Config) {
				if auth == "client_credentials" {
					c.Auth = &ClientCredentials{TokenURL: tx.Server.URL + "/token", ClientID: tx.ClientID, ClientSecret: tx.Secret, Scopes: []string{"ssf"}}
				}
			}
			stateA := NewMemoryState()
			a, counters := newReceiver(t, tx, "poll", stateA, newRecorder(), useAuth)
			if tx.Creates != 1 || a.Stream().ID != "stream-1" || a.Status() != "enabled" || counters.Status() != "enabled" {
				t.Fatalf("first start: %d creates, stream %q, status %q/%q; want 1, stream-1, enabled", tx.Creates, a.Stream().ID, a.Status(), counters.Status())
			}
			if id, _ := stateA.StreamID(context.Background()); id != "stream-1" {
				t.Errorf("state remembers stream %q, want stream-1", id)
			}
			if !slices.Equal(a.Stream().EventsRequested, RevocationEvents) {
				t.Errorf("events requested %v, want %v", a.Stream().EventsRequested, RevocationEvents)
			}
			// A second instance, or a restart: the stream is reused, by the
			// remembered id or from the list.
			newReceiver(t, tx, "poll", stateA, newRecorder(), useAuth)
			b, _ := newReceiver(t, tx, "poll", NewMemoryState(), newRecorder(), useAuth)
			if tx.Creates != 1 || b.Stream().ID != "stream-1" {
				t.Errorf("restarts: %d creates, stream %q; want 1, stream-1", tx.Creates, b.Stream().ID)
			}
			// A push receiver needs a stream of its own.
			p, _ := newReceiver(t, tx, "push", NewMemoryState(), newRecorder(), useAuth)
			if tx.Creates != 2 || p.Stream().ID != "stream-2" || p.Stream().Delivery.Method != DeliveryPush {
				t.Errorf("push: %d creates, stream %+v; want a second stream", tx.Creates, p.Stream())
			}
			if auth == "client_credentials" && tx.TokenCalls != 4 {
				// One token per receiver (each has its own ClientCredentials),
				// reused for every call of that receiver.
				t.Errorf("%d token requests, want 4 (one per receiver)", tx.TokenCalls)
			}
		})
	}
	t.Run("one stream per receiver", func(t *testing.T) {
		// A transmitter that keeps one stream per receiver answers the
		// list with that stream alone.
		tx := newTransmitter(t)
		tx.ListAsObject = true
		newReceiver(t, tx, "poll", NewMemoryState(), newRecorder(), nil)
		b, _ := newReceiver(t, tx, "poll", NewMemoryState(), newRecorder(), nil)
		if tx.Creates != 1 || b.Stream().ID != "stream-1" {
			t.Errorf("%d creates, stream %q; want 1, stream-1", tx.Creates, b.Stream().ID)
		}
	})
	t.Run("events updated", func(t *testing.T) {
		tx := newTransmitter(t)
		state := NewMemoryState()
		newReceiver(t, tx, "poll", state, newRecorder(), func(c *Config) { c.EventsRequested = []string{CAEPSessionRevoked} })
		b, _ := newReceiver(t, tx, "poll", state, newRecorder(), nil)
		c, _ := newReceiver(t, tx, "poll", NewMemoryState(), newRecorder(), nil)
		tx.Mu.Lock()
		defer tx.Mu.Unlock()
		got := tx.Streams["stream-1"].Cfg.EventsRequested
		if tx.Creates != 1 || tx.Updates != 1 || !slices.Equal(got, RevocationEvents) || !slices.Equal(b.Stream().EventsRequested, RevocationEvents) || c.Stream().ID != "stream-1" {
			t.Errorf("%d creates, %d updates, events %v; want 1, 1 (by the second receiver), %v", tx.Creates, tx.Updates, got, RevocationEvents)
		}
	})
	t.Run("unauthorized", func(t *testing.T) {
		tx := newTransmitter(t)
		r, err := New(Config{Issuer: tx.Issuer, Auth: BearerToken("wrong"), Apply: newRecorder().apply})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(context.Background()); err == nil || !strings.Contains(err.Error(), "status 401") {
			t.Errorf("Start with a wrong token: %v, want status 401", err)
		}
		bad := &ClientCredentials{TokenURL: tx.Server.URL + "/token", ClientID: "gateway", ClientSecret: "nope"}
		r, _ = New(Config{Issuer: tx.Issuer, Auth: bad, Apply: newRecorder().apply})
		if err := r.Start(context.Background()); err == nil || !strings.HasPrefix(err.Error(), "token_revocation: ssf client credentials") {
			t.Errorf("Start with a wrong secret: %v, want the client credentials error", err)
		}
	})
}

// staleState is a State whose saved stream reads as none: an instance
// that read it before another saved one.
type staleState struct{ State }

func (staleState) StreamID(context.Context) (string, error) { return "", nil }

// TestInstancesStartingTogetherKeepOneStream: two instances sharing a
// store start at once; neither sees a stream to reuse (none saved when
// each read the state, none listed yet), so each creates one. The second
// to save its own finds the first's saved, deletes its own and uses the
// first's: one stream, and both receivers on it. Before SwapStreamID the
// second used stream-2, and the transmitter kept two streams.
func TestInstancesStartingTogetherKeepOneStream(t *testing.T) {
	tx := newTransmitter(t)
	tx.ListNone = 2
	state := NewMemoryState()
	a, _ := newReceiver(t, tx, "poll", state, newRecorder(), nil)
	b, _ := newReceiver(t, tx, "poll", staleState{state}, newRecorder(), nil)
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	if a.Stream().ID != "stream-1" || b.Stream().ID != "stream-1" || len(tx.Streams) != 1 || tx.Creates != 2 || tx.Deletes != 1 {
		t.Errorf("streams %q and %q, %d kept, %d creates, %d deletes; want both on stream-1, 1 kept, 2, 1",
			a.Stream().ID, b.Stream().ID, len(tx.Streams), tx.Creates, tx.Deletes)
	}
	if id, _ := state.StreamID(context.Background()); id != "stream-1" {
		t.Errorf("state saved %q, want stream-1", id)
	}
}

func TestVerificationAndStreamUpdated(t *testing.T) {
	for _, delivery := range []string{"poll", "push"} {
		t.Run(delivery, func(t *testing.T) {
			tx := newTransmitter(t)
			rec := newRecorder()
			r, counters := newReceiver(t, tx, delivery, NewMemoryState(), rec, nil)
			state, err := r.RequestVerification(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if delivery == "poll" {
				if r.Verified(state) {
					t.Fatal("verified before the event was polled")
				}
				pollOnce(t, r)
			} else {
				// pushed once the transmitter answered the request
				waitFor(t, "the verification event", func() bool { return r.Verified(state) })
			}
			if !r.Verified(state) || r.Verified("other") {
				t.Errorf("Verified(state) = %v after the verification event", r.Verified(state))
			}
			tx.SetStatus(r.Stream().ID, "paused", "License is not valid")
			if delivery == "poll" {
				pollOnce(t, r)
			}
			if r.Status() != "paused" || counters.Status() != "paused" {
				t.Errorf("status %q, metric %q after stream-updated; want paused", r.Status(), counters.Status())
			}
			if st, err := r.RefreshStatus(context.Background()); err != nil || st != "paused" {
				t.Errorf("RefreshStatus = %q, %v", st, err)
			}
			if rec.total() != 0 || counters.Received(SSFVerification) != 1 || counters.Ignored(SSFStreamUpdated) != 1 {
				t.Errorf("applied %d, received %d verification, ignored %d stream-updated; want 0, 1, 1",
					rec.total(), counters.Received(SSFVerification), counters.Ignored(SSFStreamUpdated))
			}
		})
	}
}

// pushed is the answer to a push.
type pushed struct {
	status int
	err    string
}

func pushSET(t *testing.T, r *Receiver, auth, set string) pushed {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, r.Stream().Delivery.EndpointURL, strings.NewReader(set))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e SETError
	_ = json.Unmarshal(body, &e)
	return pushed{resp.StatusCode, e.Code}
}

func TestPushAcceptAndReject(t *testing.T) {
	tx := newTransmitter(t)
	rec := newRecorder()
	r, counters := newReceiver(t, tx, "push", NewMemoryState(), rec, nil)
	auth := r.Stream().Delivery.AuthorizationHeader
	if auth != "Bearer push-secret" {
		t.Fatalf("stream's authorization_header %q", auth)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	jti, good := tx.Sign(claims(caepSessionRevokedOpaque), nil)
	_, forged := tx.Sign(claims(caepSessionRevokedUser), other)
	wrongAud := claims(caepSessionRevokedUser)
	wrongAud["aud"] = "https://another-receiver.example.com"
	_, wrongAudSET := tx.Sign(wrongAud, nil)
	wrongIss := claims(caepSessionRevokedUser)
	wrongIss["iss"] = tx.Server.URL + "/tenant2"
	_, wrongIssSET := tx.Sign(wrongIss, nil)
	_, replayedTxn := tx.Sign(claims(caepSessionRevokedOpaque), nil) // another jti, the same txn
	old := claims(riscAccountDisabled)
	old["iat"] = time.Now().Add(-DefaultRetention - time.Hour).Unix()
	_, oldSET := tx.Sign(old, nil)
	noSubject := claims(caepSessionRevokedOpaque)
	delete(noSubject, "sub_id")
	_, noSubjectSET := tx.Sign(noSubject, nil)

	for _, c := range []struct {
		name, auth, set string
		want            pushed
	}{
		{"no authorization", "", good, pushed{401, "authentication_failed"}},
		{"accepted", auth, good, pushed{202, ""}},
		{"same SET again", auth, good, pushed{400, "invalid_request"}},
		{"replayed txn", auth, replayedTxn, pushed{400, "invalid_request"}},
		{"bad signature", auth, forged, pushed{400, "invalid_key"}},
		{"wrong aud", auth, wrongAudSET, pushed{400, "invalid_audience"}},
		{"wrong iss", auth, wrongIssSET, pushed{400, "invalid_issuer"}},
		{"no subject", auth, noSubjectSET, pushed{400, "invalid_request"}},
		{"older than PushMaxAge", auth, oldSET, pushed{400, "invalid_request"}},
		{"not a JWT", auth, "hello", pushed{400, "invalid_request"}},
	} {
		if got := pushSET(t, r, c.auth, c.set); got != c.want {
			t.Errorf("%s: answered %+v, want %+v", c.name, got, c.want)
		}
	}
	if rec.total() != 1 || rec.count(jti) != 1 {
		t.Fatalf("applied %v, want the accepted SET once", rec.applied)
	}
	want := engine.Cutoff{Kind: denylist.KindSession, Issuer: idpTenant, ID: "dMTlD|1600802906337.16|16008.16"}
	got := rec.sets[0].Cutoffs[0]
	got.At = time.Time{}
	if got != want || rec.sets[0].TXN != "8675309" {
		t.Errorf("cut-off %+v, txn %q; want %+v, 8675309", got, rec.sets[0].TXN, want)
	}
	if counters.Applied(CAEPSessionRevoked) != 1 || counters.Rejected("invalid_key") != 1 || counters.Rejected("invalid_audience") != 1 {
		t.Errorf("metrics: applied %d, invalid_key %d, invalid_audience %d; want 1 each",
			counters.Applied(CAEPSessionRevoked), counters.Rejected("invalid_key"), counters.Rejected("invalid_audience"))
	}

	// The store fails: 503, nothing remembered; the transmitter's retry of
	// the same SET is then applied once.
	rec.fail = func(*SET) error { return errors.New("redis down") }
	jti2, set2 := tx.Sign(claims(riscAccountDisabled), nil)
	if got := pushSET(t, r, auth, set2); got != (pushed{503, "temporarily_unavailable"}) {
		t.Errorf("store down: %+v, want 503 temporarily_unavailable", got)
	}
	rec.fail = nil
	if got := pushSET(t, r, auth, set2); got != (pushed{202, ""}) || rec.count(jti2) != 1 {
		t.Errorf("retry: %+v, applied %d; want 202 and applied once", got, rec.count(jti2))
	}
}

func TestPollAcknowledgesWhatItApplied(t *testing.T) {
	tx := newTransmitter(t)
	rec := newRecorder()
	r, counters := newReceiver(t, tx, "poll", NewMemoryState(), rec, func(c *Config) { c.MaxEvents = 2 })
	id := r.Stream().ID
	var jtis []string
	for _, ex := range []string{caepSessionRevokedOpaque, caepSessionRevokedComplex, caepSessionRevokedUser, riscAccountDisabled, riscCredentialCompromise, caepCredentialChangeCreate, riscEmail} {
		jtis = append(jtis, tx.Send(id, claims(ex)))
	}
	first := pollOnce(t, r)
	if first.Received != 2 || !first.MoreAvailable || first.Owed != 2 {
		t.Errorf("first poll %+v, want 2 received, more available, 2 acks owed", first)
	}
	for i := 0; len(tx.Unacked(id)) > 0; i++ {
		if i == 10 {
			t.Fatalf("after 10 polls, still unacknowledged: %v", tx.Unacked(id))
		}
		pollOnce(t, r)
	}
	for _, p := range tx.Polls {
		if p.MaxEvents != 2 || !p.ReturnImmediately {
			t.Errorf("poll %+v, want maxEvents 2, returnImmediately", p)
		}
	}
	for _, j := range jtis[:5] {
		if rec.count(j) != 1 {
			t.Errorf("SET %s applied %d times, want once", j, rec.count(j))
		}
	}
	if rec.count(jtis[5]) != 0 || counters.Ignored(CAEPCredentialChange) != 1 {
		t.Errorf("a created credential: applied %d, ignored %d; want 0, 1", rec.count(jtis[5]), counters.Ignored(CAEPCredentialChange))
	}
	if rec.count(jtis[6]) != 0 || counters.Ignored(RISCAccountPurged) != 1 {
		t.Errorf("an email subject: applied %d, ignored %d; want 0, 1", rec.count(jtis[6]), counters.Ignored(RISCAccountPurged))
	}
	if n := len(counters.Lags()); n != 5 {
		t.Errorf("%d poll lags, want 5", n)
	}
}

// A receiver that applied SETs and stopped before acknowledging them
// (and whose first acknowledgement after the restart is lost, so the
// transmitter sends them again): nothing is lost, nothing applied twice;
// with a MemoryState kept, and with the glue's StoreState over a bbolt
// store closed and opened again.
func TestPollRestartNeitherLosesNorReapplies(t *testing.T) {
	// restart returns the State of the receiver started after a: the same
	// MemoryState, or a StoreState over an embedded store closed and
	// opened again (the State the glue uses).
	for name, states := range map[string]func(t *testing.T) (first State, restart func() State){
		"memory": func(*testing.T) (State, func() State) {
			m := NewMemoryState()
			return m, func() State { return m }
		},
		"store": func(t *testing.T) (State, func() State) {
			path := filepath.Join(t.TempDir(), "denylist.db")
			var s *boltstore.EmbeddedStore
			open := func() State {
				if s != nil {
					s.Close()
				}
				var err error
				if s, err = boltstore.OpenEmbedded(path, 0); err != nil {
					t.Fatal(err)
				}
				return &StoreState{Store: s, Source: "tx"}
			}
			t.Cleanup(func() { s.Close() })
			return open(), open
		},
	} {
		t.Run(name, func(t *testing.T) {
			tx := newTransmitter(t)
			rec := newRecorder()
			state, restart := states(t)
			a, _ := newReceiver(t, tx, "poll", state, rec, nil)
			id := a.Stream().ID
			var jtis []string
			for _, ex := range []string{caepSessionRevokedOpaque, caepSessionRevokedUser, riscAccountDisabled} {
				jtis = append(jtis, tx.Send(id, claims(ex)))
			}
			if res := pollOnce(t, a); res.Received != 3 || res.Owed != 3 {
				t.Fatalf("first run: %+v, want 3 received and 3 acks owed", res)
			}
			a.Close() // stopped before its next poll: the acks are owed in state

			jtis = append(jtis, tx.Send(id, claims(riscCredentialCompromise)), tx.Send(id, claims(caepSessionRevokedComplex)))
			tx.DropAcks = 1
			state = restart()
			b, _ := newReceiver(t, tx, "poll", state, rec, nil)
			if b.Stream().ID != id || tx.Creates != 1 {
				t.Fatalf("restart uses stream %q after %d creates, want %s after 1", b.Stream().ID, tx.Creates, id)
			}
			res := pollOnce(t, b)
			if res.Acked != 3 || res.Received != 5 || res.Owed != 5 {
				t.Errorf("first poll after the restart: %+v; want 3 acks sent, 5 SETs back (3 again), 5 owed", res)
			}
			pollOnce(t, b)
			if un := tx.Unacked(id); len(un) != 0 {
				t.Errorf("unacknowledged after the restart: %v", un)
			}
			for _, j := range jtis {
				if rec.count(j) != 1 {
					t.Errorf("SET %s applied %d times, want once", j, rec.count(j))
				}
			}
			if owed, _ := state.PendingAcks(context.Background()); len(owed) != 0 {
				t.Errorf("acks still owed: %v", owed)
			}
		})
	}
}

func TestPollApplyErrorIsNotAcknowledged(t *testing.T) {
	tx := newTransmitter(t)
	rec := newRecorder()
	r, _ := newReceiver(t, tx, "poll", NewMemoryState(), rec, nil)
	id := r.Stream().ID
	failing := tx.Send(id, claims(caepSessionRevokedUser))
	fine := tx.Send(id, claims(riscAccountDisabled))
	failures := 0
	rec.fail = func(s *SET) error {
		if s.JTI == failing && failures == 0 {
			failures++
			return errors.New("redis down")
		}
		return nil
	}
	if res := pollOnce(t, r); res.Failed != 1 || res.Owed != 1 {
		t.Fatalf("poll with a failing store: %+v, want 1 failed, 1 owed", res)
	}
	res := pollOnce(t, r) // acks fine; failing comes again
	if last := tx.Polls[len(tx.Polls)-1]; !slices.Equal(last.Ack, []string{fine}) {
		t.Errorf("acknowledged %v, want only %s", last.Ack, fine)
	}
	if res.Received != 1 || res.Failed != 0 {
		t.Errorf("second poll %+v, want the failed SET delivered again and applied", res)
	}
	pollOnce(t, r)
	if rec.count(failing) != 1 || rec.count(fine) != 1 || len(tx.Unacked(id)) != 0 {
		t.Errorf("applied %v, unacknowledged %v; want each once, none", rec.applied, tx.Unacked(id))
	}
}

func TestPollReportsRefusedSETs(t *testing.T) {
	tx := newTransmitter(t)
	rec := newRecorder()
	r, counters := newReceiver(t, tx, "poll", NewMemoryState(), rec, nil)
	id := r.Stream().ID
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jti, forged := tx.Sign(claims(caepSessionRevokedUser), other)
	tx.Deliver(id, jti, forged)
	pollOnce(t, r)
	pollOnce(t, r)
	last := tx.LastPoll()
	if e := last.SetErrs[jti]; e == nil || e.Code != "invalid_key" || len(last.Ack) != 0 {
		t.Errorf("second poll %+v, want setErrs[%s] invalid_key and no ack", last, jti)
	}
	if rec.total() != 0 || counters.Rejected("invalid_key") != 1 || len(tx.Unacked(id)) != 0 {
		t.Errorf("applied %d, rejected %d, pending %v; want 0, 1, none", rec.total(), counters.Rejected("invalid_key"), tx.Unacked(id))
	}
}

func TestLongPoll(t *testing.T) {
	tx := newTransmitter(t)
	applied := make(chan string, 1)
	rec := newRecorder()
	rec.fail = func(s *SET) error { applied <- s.JTI; return nil }
	r, _ := newReceiver(t, tx, "poll", NewMemoryState(), rec, func(c *Config) { c.ReturnImmediately = false })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	// The receiver waits in a long poll on an empty queue...
	waitFor(t, "a long poll", func() bool {
		tx.Mu.Lock()
		defer tx.Mu.Unlock()
		return len(tx.Polls) > 0 && !tx.Polls[len(tx.Polls)-1].ReturnImmediately
	})
	// ...which answers with the SET queued meanwhile.
	jti := tx.Send(r.Stream().ID, claims(riscAccountDisabled))
	if got := <-applied; got != jti {
		t.Fatalf("applied %s, want %s", got, jti)
	}
	waitFor(t, "the acknowledgement", func() bool { return len(tx.Unacked(r.Stream().ID)) == 0 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Run returned %v, want context.Canceled", err)
	}
}

func TestRunRetriesAFailedPoll(t *testing.T) {
	tx := newTransmitter(t)
	applied := make(chan string, 1)
	rec := newRecorder()
	rec.fail = func(s *SET) error { applied <- s.JTI; return nil }
	r, _ := newReceiver(t, tx, "poll", NewMemoryState(), rec, nil)
	jti := tx.Send(r.Stream().ID, claims(riscAccountDisabled))
	tx.Mu.Lock()
	tx.FailPolls = 3
	tx.Mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	if got := <-applied; got != jti {
		t.Fatalf("applied %s, want %s", got, jti)
	}
	waitFor(t, "the acknowledgement", func() bool { return len(tx.Unacked(r.Stream().ID)) == 0 })
	tx.Mu.Lock()
	defer tx.Mu.Unlock()
	if tx.FailPolls != 0 {
		t.Errorf("%d failing polls left, want the 3 retried through", tx.FailPolls)
	}
}

func TestMemoryStateForgetsAfterRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Unix(1700000000, 0)
	m := NewMemoryState()
	m.Retention, m.Now = time.Hour, func() time.Time { return now }
	_ = m.MarkApplied(ctx, "txn:a", "j1")
	now = now.Add(59 * time.Minute)
	_ = m.MarkApplied(ctx, "txn:b", "")
	if ok, _ := m.Applied(ctx, "txn:a"); !ok {
		t.Error("txn:a forgotten before its retention")
	}
	now = now.Add(5 * time.Minute) // past a prune interval (Retention/16)
	if ok, _ := m.Applied(ctx, "txn:a"); ok {
		t.Error("txn:a remembered after its retention")
	}
	_ = m.MarkApplied(ctx, "txn:c", "")
	if m.Len() != 2 {
		t.Errorf("%d events remembered, want 2 (txn:a pruned)", m.Len())
	}
	if p, _ := m.PendingAcks(ctx); !slices.Equal(p, []string{"j1"}) {
		t.Errorf("acks owed %v, want [j1]", p)
	}
}

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkPollLag is the time from a SET queued at the transmitter to
// the return of the callback that stores it, through a long poll.
func BenchmarkPollLag(b *testing.B) {
	t := &testing.T{}
	tx := newTransmitter(t)
	defer tx.Server.Close()
	applied := make(chan struct{}, 1)
	rec := newRecorder()
	rec.fail = func(*SET) error { applied <- struct{}{}; return nil }
	r, err := New(Config{Issuer: tx.Issuer, Auth: BearerToken(tx.Bearer), Apply: rec.apply,
		Subjects: Subjects{TokenIssuers: []string{idpTenant, idpRoot}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Run(ctx) }()
	c := claims(riscAccountDisabled)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		delete(c, "jti")
		jti, set := tx.Sign(c, nil)
		b.StartTimer()
		tx.Deliver(r.Stream().ID, jti, set)
		<-applied
	}
}

func TestConcurrentPushesOfOneEventApplyOnce(t *testing.T) {
	tx := newTransmitter(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	var calls atomic.Int32
	apply := func(context.Context, *SET) error {
		if calls.Add(1) == 1 { // the first call stores slowly
			entered <- struct{}{}
			<-release
		}
		return nil
	}
	r, _ := newReceiver(t, tx, "push", NewMemoryState(), newRecorder(), func(c *Config) { c.Apply = apply })
	auth := r.Stream().Delivery.AuthorizationHeader
	_, set := tx.Sign(claims(riscAccountDisabled), nil)
	first := make(chan pushed, 1)
	go func() { first <- pushSET(t, r, auth, set) }()
	<-entered // the first push is storing
	if got := pushSET(t, r, auth, set); got != (pushed{503, "temporarily_unavailable"}) {
		t.Errorf("second push while the first stores: %+v, want 503", got)
	}
	close(release)
	if got := <-first; got != (pushed{202, ""}) || calls.Load() != 1 {
		t.Errorf("first push %+v, applied %d times; want 202, once", got, calls.Load())
	}
}
