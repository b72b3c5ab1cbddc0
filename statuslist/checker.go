package statuslist

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Status is a status value of a list entry (draft section "Status Types").
type Status uint8

// The registered status values.
const (
	// Valid: the token is valid.
	Valid Status = 0
	// Invalid: the token is revoked.
	Invalid Status = 1
	// Suspended: the token is temporarily invalid.
	Suspended Status = 2
)

// String names the registered values and prints the others in hex.
func (s Status) String() string {
	switch s {
	case Valid:
		return "VALID"
	case Invalid:
		return "INVALID"
	case Suspended:
		return "SUSPENDED"
	}
	return fmt.Sprintf("0x%02X", uint8(s))
}

// Verdict is what a check says of a token.
type Verdict uint8

// The verdicts.
const (
	// Pass: the token's entry is VALID.
	Pass Verdict = iota
	// Rejected: the token's entry holds another value, or its index is
	// beyond the list.
	Rejected
	// Unknown: no statement can be made (the list was not fetched in time,
	// is too stale, or was refused): the fail mode decides.
	Unknown
)

// String names the verdict.
func (v Verdict) String() string {
	switch v {
	case Pass:
		return "pass"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// Result is the answer of a check.
type Result struct {
	// Verdict says what to do with the token.
	Verdict Verdict
	// Status is the entry's value (meaningful when the list was read).
	Status Status
	// Err says why the Verdict is Unknown, or that the index is out of
	// range; nil otherwise. It wraps one of the Err* values and never
	// contains a token.
	Err error
}

// Why a check could not read a list. Result.Err wraps one.
var (
	// ErrNotFetched: the list has not been fetched yet (the first fetch
	// took longer than Config.FirstFetchWait, or failed).
	ErrNotFetched = errors.New("token_revocation: status list not fetched yet")
	// ErrStale: the list could not be refreshed and the copy held is
	// older than Config.MaxStale allows, or past its exp.
	ErrStale = errors.New("token_revocation: status list too stale")
	// ErrHostNotAllowed: the uri's host is not in Config.AllowHosts (or is
	// not an http(s) uri); add it to allow_hosts if the issuer's lists
	// live there.
	ErrHostNotAllowed = errors.New("token_revocation: status list host not allowed")
	// ErrTooManyLists: Config.MaxLists lists are cached already.
	ErrTooManyLists = errors.New("token_revocation: too many status lists")
	// ErrIndexOutOfRange: the token's idx is beyond its list.
	ErrIndexOutOfRange = errors.New("token_revocation: status list index out of range")
	// ErrFetch: the list could not be fetched (network, HTTP status).
	ErrFetch = errors.New("token_revocation: status list fetch failed")
	// ErrInvalidList: the fetched Status List Token was refused (see the
	// package documentation for what a list must be).
	ErrInvalidList = errors.New("token_revocation: invalid status list token")
)

// Defaults of a Config.
const (
	DefaultMaxStale       = 10 * time.Minute
	DefaultFirstFetchWait = time.Second
	DefaultFetchTimeout   = 5 * time.Second
	DefaultMaxSize        = 4 << 20
	DefaultMaxListBytes   = 16 << 20
	DefaultRefreshMin     = 10 * time.Second
	DefaultRefreshMax     = time.Hour
	DefaultMaxLists       = 1000
	DefaultClockSkew      = time.Minute
	// DefaultIdleTimeout: a list no check has read for this long is
	// dropped rather than refreshed.
	DefaultIdleTimeout = 24 * time.Hour
)

// retryMin and retryMax bound the backoff between failed fetches of a
// list.
const (
	retryMin = time.Second
	retryMax = 30 * time.Second
)

// Keys verifies a Status List Token's signature with the keys of the
// referenced token's issuer. VerifierKeys backs it with jwtverify.
type Keys interface {
	// VerifySignature checks the signature of raw (a compact JWS) with the
	// keys of issuer and returns its payload. It checks no claim.
	VerifySignature(ctx context.Context, issuer, raw string) ([]byte, error)
}

// Config configures a Checker.
type Config struct {
	// Keys verifies the lists' signatures. Required.
	Keys Keys
	// AllowHosts are the hosts (host or host:port, exactly; "*.example.com"
	// for any subdomain) the lists may be fetched from. Default: the host
	// of the referenced token's issuer, when it is an http(s) URL.
	AllowHosts []string
	// MaxStale is how long after it should have been refreshed a list is
	// still used while it cannot be fetched; never past its exp.
	// Default: 10m.
	MaxStale time.Duration
	// FirstFetchWait is how long a check waits for a list never fetched
	// before it answers Unknown. Default: 1s.
	FirstFetchWait time.Duration
	// FetchTimeout bounds one fetch. Default: 5s.
	FetchTimeout time.Duration
	// MaxSize bounds a Status List Token's size, in bytes. Default: 4 MiB.
	MaxSize int64
	// MaxListBytes bounds a decompressed list, in bytes. Default: 16 MiB
	// (2^27 entries of one bit).
	MaxListBytes int64
	// RefreshMin and RefreshMax bound how often a list is fetched again:
	// its ttl (or the time to its exp, without ttl) is raised to
	// RefreshMin and lowered to RefreshMax. Default: 10s and 1h.
	RefreshMin, RefreshMax time.Duration
	// MaxLists bounds how many lists are cached. Default: 1000.
	MaxLists int
	// IdleTimeout drops a list no check has read for this long. Default:
	// 24h.
	IdleTimeout time.Duration
	// ClockSkew is the leeway on the lists' exp, nbf and iat. Default: 1m.
	ClockSkew time.Duration
	// HTTPClient fetches the lists (its TLS settings: a private CA, say);
	// its redirects are refused and FetchTimeout applies unless it has a
	// timeout. Default: a plain client.
	HTTPClient *http.Client
	// Logger receives the fetch failures (uri and reason). Default: none.
	Logger *zap.Logger
}

// Checker checks tokens against their Status Lists. It is safe for
// concurrent use.
type Checker struct {
	cfg    Config
	client *http.Client
	now    func() time.Time
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex                        // serialises writers of lists
	lists atomic.Pointer[map[listKey]*list] // copy on write: read without a lock
}

// listKey names a list: a uri is verified with the keys of the issuer of
// the token that names it, so two issuers naming one uri are two lists.
type listKey struct{ issuer, uri string }

// list is one cached Status List and its refresher.
type list struct {
	key   listKey
	snap  atomic.Pointer[snapshot] // nil until the first fetch succeeds
	ready chan struct{}            // closed when the first fetch ends, however it ends
	err   atomic.Pointer[error]    // the last fetch's failure; nil after a success
	used  atomic.Bool              // read since the refresher last looked
	// removed: dropped from the lists, idle; an Entry holding it finds
	// the list again.
	removed atomic.Bool
	kick    chan struct{} // a send refreshes now (tests)
}

// New checks cfg and builds a Checker. Nothing is fetched before a token
// names a list.
func New(cfg Config) (*Checker, error) {
	if cfg.Keys == nil {
		return nil, errors.New("token_revocation: status_list: no keys to verify the lists with")
	}
	for _, h := range cfg.AllowHosts {
		if h == "" || strings.ContainsAny(h, "/?#@ ") {
			return nil, fmt.Errorf("token_revocation: status_list: allow_hosts %q: give a host or host:port (e.g. issuer.example.com), or *.example.com", h)
		}
	}
	orDefault(&cfg.MaxStale, DefaultMaxStale)
	orDefault(&cfg.FirstFetchWait, DefaultFirstFetchWait)
	orDefault(&cfg.FetchTimeout, DefaultFetchTimeout)
	orDefault(&cfg.RefreshMin, DefaultRefreshMin)
	orDefault(&cfg.RefreshMax, DefaultRefreshMax)
	orDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	orDefault(&cfg.ClockSkew, DefaultClockSkew)
	orDefault(&cfg.MaxSize, DefaultMaxSize)
	orDefault(&cfg.MaxListBytes, DefaultMaxListBytes)
	orDefault(&cfg.MaxLists, DefaultMaxLists)
	if cfg.RefreshMin > cfg.RefreshMax {
		return nil, fmt.Errorf("token_revocation: status_list: refresh_min %s is above refresh_max %s: lower refresh_min or raise refresh_max", cfg.RefreshMin, cfg.RefreshMax)
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	c := &Checker{cfg: cfg, client: fetchClient(&cfg), now: time.Now}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	empty := map[listKey]*list{}
	c.lists.Store(&empty)
	return c, nil
}

// ListStatus is what a Checker holds of one list, for metrics and the
// admin API.
type ListStatus struct {
	// Issuer is the issuer whose keys verify the list; URI is where it is
	// fetched from.
	Issuer, URI string
	// Held says a copy is used by the checks; the fields below describe it.
	Held bool
	// Bits is the bits per entry; Entries how many entries the list holds.
	Bits    int
	Entries uint64
	// IssuedAt is the list's iat; FetchedAt when it was fetched;
	// RefreshAt when it is fetched again; UsableUntil when it stops being
	// used if it could not be.
	IssuedAt, FetchedAt, RefreshAt, UsableUntil time.Time
	// Err is the last fetch's failure, nil after a success.
	Err error
}

// Lists reports every list held, in no particular order.
func (c *Checker) Lists() []ListStatus {
	lists := *c.lists.Load()
	out := make([]ListStatus, 0, len(lists))
	for k, l := range lists {
		st := ListStatus{Issuer: k.issuer, URI: k.uri}
		if s := l.snap.Load(); s != nil {
			st.Held, st.Bits, st.Entries = true, 1<<s.shift, s.size
			st.IssuedAt, st.FetchedAt, st.RefreshAt, st.UsableUntil = s.iat, s.fetched, s.refreshAt, s.usableUntil
		}
		if e := l.err.Load(); e != nil {
			st.Err = *e
		}
		out = append(out, st)
	}
	return out
}

// orDefault sets *p to def when it is not positive.
func orDefault[T int | int64 | time.Duration](p *T, def T) {
	if *p <= 0 {
		*p = def
	}
}

// Close stops the refreshers and waits for them. Checks after Close
// answer from the lists held, which are no longer refreshed.
func (c *Checker) Close() {
	c.cancel()
	c.wg.Wait()
}

// Check answers the status of the entry ref names, for a verified token of
// issuer. It never fetches: a list named for the first time is fetched in
// the background (once, however many checks wait for it) and the check
// waits for it at most Config.FirstFetchWait, or until ctx is done. A
// caller that checks a token more than once keeps its Entry (Resolve)
// instead: that saves finding the list by issuer and uri.
func (c *Checker) Check(ctx context.Context, issuer string, ref Reference) Result {
	l := (*c.lists.Load())[listKey{issuer, ref.URI}]
	if l == nil {
		var res Result
		if l, res = c.add(issuer, ref.URI); l == nil {
			return res
		}
	}
	return c.read(ctx, l, ref.Index)
}

// Entry is a token's entry with its list found: what the glue keeps for a
// token it has verified, beside its cached denylist query. The zero Entry
// is not usable: make one with Resolve.
type Entry struct {
	c      *Checker
	l      *list // nil when the list could not be added (see Check)
	issuer string
	ref    Reference
}

// Resolve finds (or adds, and starts fetching) the list of ref for a
// verified token of issuer. It never waits.
func (c *Checker) Resolve(issuer string, ref Reference) Entry {
	l := (*c.lists.Load())[listKey{issuer, ref.URI}]
	if l == nil {
		l, _ = c.add(issuer, ref.URI)
	}
	return Entry{c: c, l: l, issuer: issuer, ref: ref}
}

// Check answers as Checker.Check does for the Entry's issuer and
// Reference, without finding the list again (unless it was dropped, idle,
// meanwhile).
func (e Entry) Check(ctx context.Context) Result {
	if e.l == nil || e.l.removed.Load() {
		return e.c.Check(ctx, e.issuer, e.ref)
	}
	return e.c.read(ctx, e.l, e.ref.Index)
}

// read answers entry idx of l.
func (c *Checker) read(ctx context.Context, l *list, idx uint64) Result {
	if !l.used.Load() {
		l.used.Store(true)
	}
	// No clock is read here (time.Now costs more than the look-up on some
	// virtual machines): the refresher drops a copy that is no longer
	// usable.
	s := l.snap.Load()
	if s == nil {
		if l.removed.Load() { // dropped, idle, since the caller found it
			return c.Check(ctx, l.key.issuer, Reference{URI: l.key.uri, Index: idx})
		}
		if s = l.awaitFirst(ctx, c.cfg.FirstFetchWait); s == nil {
			return Result{Verdict: Unknown, Err: l.failure()}
		}
	}
	return s.lookup(idx)
}

// failure is the error of an Unknown answer: the last fetch's failure
// (wrapping ErrStale once a copy was held), or ErrNotFetched.
func (l *list) failure() error {
	if e := l.err.Load(); e != nil {
		return *e
	}
	return ErrNotFetched
}

// awaitFirst waits for the first fetch to end, at most wait or until ctx
// is done, and returns the snapshot it made (nil when none).
func (l *list) awaitFirst(ctx context.Context, wait time.Duration) *snapshot {
	select {
	case <-l.ready:
		return l.snap.Load()
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-l.ready:
	case <-t.C:
	case <-ctx.Done():
	}
	return l.snap.Load()
}

// add creates the list of (issuer, uri) and starts its refresher, or says
// why it may not be fetched.
func (c *Checker) add(issuer, uri string) (*list, Result) {
	if err := c.allowed(issuer, uri); err != nil {
		return nil, Result{Verdict: Unknown, Err: err}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	old := *c.lists.Load()
	k := listKey{issuer, uri}
	if l := old[k]; l != nil {
		return l, Result{}
	}
	if c.ctx.Err() != nil {
		return nil, Result{Verdict: Unknown, Err: ErrNotFetched}
	}
	if len(old) >= c.cfg.MaxLists {
		return nil, Result{Verdict: Unknown, Err: fmt.Errorf("%w: %d cached, raise max_lists", ErrTooManyLists, len(old))}
	}
	l := &list{key: k, ready: make(chan struct{}), kick: make(chan struct{})}
	next := make(map[listKey]*list, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[k] = l
	c.lists.Store(&next)
	c.wg.Add(1)
	go c.refresh(l)
	return l, Result{}
}

// remove drops l from the lists.
func (c *Checker) remove(l *list) {
	c.mu.Lock()
	defer c.mu.Unlock()
	l.removed.Store(true)
	l.snap.Store(nil) // no longer refreshed: never used again
	old := *c.lists.Load()
	next := make(map[listKey]*list, len(old))
	for k, v := range old {
		if v != l {
			next[k] = v
		}
	}
	c.lists.Store(&next)
}

// allowed checks that uri is an http(s) URL on an allowed host.
func (c *Checker) allowed(issuer, uri string) error {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%w: uri %q is not an http(s) URL", ErrHostNotAllowed, uri)
	}
	hosts := c.cfg.AllowHosts
	if len(hosts) == 0 {
		iu, err := url.Parse(issuer)
		if err != nil || (iu.Scheme != "https" && iu.Scheme != "http") || iu.Host == "" {
			return fmt.Errorf("%w: %s (issuer %q is not a URL to take the host from: set allow_hosts)", ErrHostNotAllowed, u.Host, issuer)
		}
		hosts = []string{iu.Host}
	}
	for _, h := range hosts {
		if hostMatches(h, u.Host) {
			return nil
		}
	}
	return fmt.Errorf("%w: %s (allowed: %s)", ErrHostNotAllowed, u.Host, strings.Join(hosts, " "))
}

// hostMatches says whether host (of a URL: host or host:port) is pattern:
// equal, ignoring case, or under it when pattern is "*.domain"; a pattern
// without a port allows any port.
func hostMatches(pattern, host string) bool {
	pattern, host = strings.ToLower(pattern), strings.ToLower(host)
	if pattern == host {
		return true
	}
	if _, _, err := net.SplitHostPort(pattern); err == nil {
		return false // a port in the pattern: only that one
	}
	name := host
	if h, _, err := net.SplitHostPort(host); err == nil {
		name = h
	}
	pattern, name = strings.Trim(pattern, "[]"), strings.Trim(name, "[]")
	if name == pattern {
		return true
	}
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok && strings.HasPrefix(suffix, ".") {
		return strings.HasSuffix(name, suffix) && len(name) > len(suffix)
	}
	return false
}

// refresh fetches l now, then again before its copy goes stale, until the
// Checker is closed or no check has read l for Config.IdleTimeout. It also
// drops the copy once it is no longer usable (Check reads no clock).
func (c *Checker) refresh(l *list) {
	defer c.wg.Done()
	first, had := true, false
	var newest time.Time // the iat of the newest list fetched, also once dropped
	backoff := retryMin
	idleSince := c.now()
	for {
		if held := l.snap.Load(); held != nil && !c.now().Before(held.usableUntil) {
			l.snap.Store(nil)
			c.cfg.Logger.Warn("status list too stale: the checks of its tokens are unknown until it is fetched", zap.String("uri", l.key.uri))
		}
		s, err := c.fetch(c.ctx, l.key)
		if err == nil && s.iat.Before(newest) {
			// A cache (or an attacker on the path) serving an older list
			// would bring back tokens revoked since.
			err = fmt.Errorf("%w: %s: iat %s is older than the list held (iat %s)", ErrInvalidList, l.key.uri,
				s.iat.UTC().Format(time.RFC3339), newest.UTC().Format(time.RFC3339))
		}
		var wait time.Duration
		if err != nil {
			if c.ctx.Err() != nil {
				err = ErrNotFetched
			} else if had {
				err = fmt.Errorf("%w: %w", ErrStale, err)
			}
			l.err.Store(&err)
			c.cfg.Logger.Warn("status list not fetched", zap.String("uri", l.key.uri), zap.Error(err))
			wait = backoff
			backoff = min(2*backoff, retryMax)
		} else {
			l.snap.Store(s)
			l.err.Store(nil)
			had, newest = true, s.iat
			backoff = retryMin
			wait = s.refreshAt.Sub(c.now())
		}
		if held := l.snap.Load(); held != nil {
			wait = min(wait, held.usableUntil.Sub(c.now()))
		}
		if first {
			close(l.ready)
			first = false
		}
		if l.used.Swap(false) {
			idleSince = c.now()
		} else if c.now().Sub(idleSince) > c.cfg.IdleTimeout {
			c.remove(l)
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-c.ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-l.kick:
			t.Stop()
		}
	}
}
