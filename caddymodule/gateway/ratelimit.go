package gateway

import (
	"fmt"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// Rate limits on revocation routes and token endpoint observers.
//
// Every call to a revocation route, and every call a token endpoint
// observer (oauth_token, usergrid_token) reads, takes one token from a
// bucket: the bucket of its client when it authenticated as one of the
// handler's clients, else the bucket of its remote address. A call that
// finds its bucket empty is answered 429 with Retry-After, before anything
// is read or stored. Buckets are kept for at most max_keys keys of each
// kind (least recently used first out), so memory stays bounded whatever
// the number of addresses; a key pushed out starts over with a full bucket.
//
// The address is Caddy's client IP (the remote address, or the one
// trusted_proxies lets a proxy name); an IPv6 address counts by its /64,
// which one host commonly holds. An address of exempt_addresses (default:
// loopback) is not limited, by the rate limit nor by the address quota
// (quota.go): it is a local proxy or health check speaking for many
// clients (configure Caddy's trusted_proxies so that the real client's
// Address counts, or exempt_addresses off so that loopback callers count
// one by one).

// DefaultExemptAddresses are the addresses no address limit applies to:
// loopback.
var DefaultExemptAddresses = []string{"127.0.0.0/8", "::1/128"}

// Defaults of the rate limits, per key (one client, one address).
const (
	// DefaultRateLimitRequests per DefaultRateLimitPer: 50 calls a second
	// is far above what one client or address sends in logouts and token
	// refreshes, and keeps a flood from one key to about 150 entries a
	// second (a call stores at most a few), so that max_entries lasts
	// hours rather than minutes, time for the alert on
	// refused_total{reason="denylist_full"} to be acted on.
	DefaultRateLimitRequests = 50
	DefaultRateLimitPer      = time.Second
	// DefaultRateLimitBurst calls may come at once (a batch of logouts).
	DefaultRateLimitBurst = 100
	// DefaultRateLimitMaxKeys buckets are kept per kind of key: about
	// 100 bytes each, 1 MB each for addresses and clients.
	DefaultRateLimitMaxKeys = 10000
)

// RateLimitConfig limits calls to the revocation routes and to the token
// endpoint observers, per client and per remote address (token buckets).
// Without it, the defaults apply: 50 calls a second, bursts of 100, per
// Client and per address, 10000 keys of each.
type RateLimitConfig struct {
	// Off disables rate limiting.
	Off bool `json:"off,omitempty"`
	// Client is the limit per authenticated client (see Handler.Clients).
	Client *Rate `json:"client,omitempty"`
	// Address is the limit per remote address, for calls not made by an
	// authenticated client (Handler.ExemptAddresses are not limited).
	Address *Rate `json:"address,omitempty"`
	// MaxKeys is how many clients and how many addresses are tracked at
	// most, each; the least recently seen is forgotten first. Default:
	// 10000.
	MaxKeys int `json:"max_keys,omitempty"`
}

// Rate is a token bucket: Requests calls per Per, up to Burst at once.
type Rate struct {
	// Requests is how many calls are allowed per Per.
	Requests int `json:"requests"`
	// Per is the interval Requests are allowed in. Default: 1s.
	Per caddy.Duration `json:"per,omitempty"`
	// Burst is how many calls may come at once. Default: Requests.
	Burst int `json:"burst,omitempty"`
}

func (r *Rate) withDefaults() Rate {
	out := Rate{Requests: DefaultRateLimitRequests, Per: caddy.Duration(DefaultRateLimitPer), Burst: DefaultRateLimitBurst}
	if r == nil {
		return out
	}
	out = *r
	if out.Per <= 0 {
		out.Per = caddy.Duration(time.Second)
	}
	if out.Burst <= 0 {
		out.Burst = out.Requests
	}
	return out
}

// String is r as written in the Caddyfile (10/s).
func (r Rate) String() string {
	return fmt.Sprintf("%d/%s burst %d", r.Requests, time.Duration(r.Per), r.Burst)
}

// rateLimits are a handler's buckets.
type rateLimits struct {
	Client, Address *bucketSet
}

// NewRateLimits returns the buckets c describes, or nil when off.
func NewRateLimits(c *RateLimitConfig) (*rateLimits, error) {
	if c == nil {
		c = &RateLimitConfig{}
	}
	if c.Off {
		return nil, nil
	}
	keys := c.MaxKeys
	if keys == 0 {
		keys = DefaultRateLimitMaxKeys
	}
	if keys < 0 {
		return nil, fmt.Errorf("token_revocation: rate_limit max_keys must not be negative")
	}
	client, address := c.Client.withDefaults(), c.Address.withDefaults()
	for name, r := range map[string]Rate{"client": client, "address": address} {
		if r.Requests <= 0 {
			return nil, fmt.Errorf("token_revocation: rate_limit %s: want at least 1 request per interval, got %d (use rate_limit off to disable)", name, r.Requests)
		}
	}
	return &rateLimits{Client: NewBucketSet(client, keys), Address: NewBucketSet(address, keys)}, nil
}

// RateLimited answers a call whose bucket is empty: 429 with Retry-After.
type RateLimited struct {
	by    string // "client" or "address"
	After time.Duration
}

// Error says who was rate limited; with StatusCode and Answer, a
// RateLimited is a route.SelfAnswering error: 429 with Retry-After.
func (e *RateLimited) Error() string { return "rate limited by " + e.by }

// StatusCode is 429.
func (e *RateLimited) StatusCode() int { return http.StatusTooManyRequests }

// Answer writes the 429 answer.
func (e *RateLimited) Answer(w http.ResponseWriter) error {
	secs := int(math.Ceil(e.After.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	return route.WriteOAuthError(w, &route.OAuthError{Status: http.StatusTooManyRequests, Code: "too_many_requests",
		Description: "too many revocation calls from this " + e.by + "; retry later"})
}

// limitClient takes a token from client id's bucket.
func (l *rateLimits) limitClient(id string) error {
	if l == nil {
		return nil
	}
	return l.Client.Take("client", id)
}

// limitAddress takes a token from the bucket of r's client address;
// exempt addresses are not limited.
func (l *rateLimits) limitAddress(r *http.Request, exempt []netip.Prefix) error {
	if l == nil {
		return nil
	}
	key, ok := AddressKey(r, exempt)
	if !ok {
		return nil
	}
	return l.Address.Take("address", key)
}

// ParseExempt parses exempt_addresses (cidrs; empty: the default).
func ParseExempt(cidrs []string) ([]netip.Prefix, error) {
	if len(cidrs) == 0 {
		cidrs = DefaultExemptAddresses
	}
	if len(cidrs) == 1 && cidrs[0] == route.Off {
		return nil, nil
	}
	var exempt []netip.Prefix
	for _, c := range cidrs {
		p, err := netip.ParsePrefix(c)
		if err != nil {
			a, aerr := netip.ParseAddr(c)
			if aerr != nil {
				return nil, fmt.Errorf("token_revocation: exempt_addresses %q: want an address or a CIDR range such as 127.0.0.0/8, or off", c)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		exempt = append(exempt, p.Masked())
	}
	return exempt, nil
}

// AddressKey returns the rate limit and quota key of r's client address:
// the IP, or the /64 of an IPv6 address. ok is false for an address in
// exempt.
func AddressKey(r *http.Request, exempt []netip.Prefix) (key string, ok bool) {
	ip, _ := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string)
	if ip == "" {
		ip = r.RemoteAddr
		if host, _, found := strings.Cut(ip, "]:"); found { // [v6]:port
			ip = strings.TrimPrefix(host, "[")
		} else if i := strings.LastIndexByte(ip, ':'); i >= 0 && strings.Count(ip, ":") == 1 {
			ip = ip[:i]
		}
	}
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ip, true
	}
	addr = addr.Unmap()
	for _, p := range exempt {
		if p.Contains(addr) {
			return "", false
		}
	}
	if addr.Is6() {
		p, _ := addr.WithZone("").Prefix(64)
		return p.String(), true
	}
	return addr.String(), true
}

// bucketSet is a token bucket per key, for at most max keys (least
// recently used out first).
type bucketSet struct {
	rate  float64 // tokens per second
	burst float64
	Now   func() time.Time
	mu    sync.Mutex
	route.LRU[bucket]
}

type bucket struct {
	tokens float64
	at     time.Time
}

// NewBucketSet is a token bucket of rate r per key, for at most maxKeys
// keys (least recently used out first).
func NewBucketSet(r Rate, maxKeys int) *bucketSet {
	return &bucketSet{
		rate:  float64(r.Requests) / time.Duration(r.Per).Seconds(),
		burst: float64(r.Burst), Now: time.Now, LRU: route.NewLRU[bucket](maxKeys),
	}
}

// Take takes a token from key's bucket, or returns *rateLimited saying
// when one will be there.
func (s *bucketSet) Take(by, key string) error {
	now := s.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b, fresh := s.Use(key)
	if fresh {
		b.tokens = s.burst
	} else {
		b.tokens = min(s.burst, b.tokens+now.Sub(b.at).Seconds()*s.rate)
	}
	b.at = now
	if b.tokens < 1 {
		countRefused("rate_limited_" + by)
		return &RateLimited{by: by, After: time.Duration((1 - b.tokens) / s.rate * float64(time.Second))}
	}
	b.tokens--
	return nil
}

// UnmarshalRateLimit parses `rate_limit off` and
//
//	rate_limit {
//	    client <requests>/<interval> [<burst>]
//	    address <requests>/<interval> [<burst>]
//	    max_keys <n>
//	}
func UnmarshalRateLimit(dst **RateLimitConfig, d *caddyfile.Dispenser) error {
	if *dst != nil {
		return d.Err("token_revocation: rate_limit given twice")
	}
	c := &RateLimitConfig{}
	*dst = c
	return offOrBlock(d, &c.Off, "client 50/1s 100 (or address, max_keys)", func(name string) (err error) {
		switch name {
		case "client":
			c.Client, err = rateArg(d)
		case "address":
			c.Address, err = rateArg(d)
		case "max_keys":
			err = IntArg(d, &c.MaxKeys)
		default:
			err = UnknownName(d, "rate_limit", "option", name, RateLimitOptions)
		}
		return err
	})
}

// rateArg parses `<requests>/<interval> [<burst>]`, e.g. 50/1s 100 or 10/m.
func rateArg(d *caddyfile.Dispenser) (*Rate, error) {
	name := d.Val()
	args := d.RemainingArgs()
	bad := d.Errf("token_revocation: rate_limit %s: want <requests>/<interval> [<burst>], such as 50/1s 100", name)
	if len(args) == 0 || len(args) > 2 {
		return nil, bad
	}
	n, per, ok := strings.Cut(args[0], "/")
	if !ok {
		return nil, bad
	}
	r := &Rate{}
	var err error
	if r.Requests, err = strconv.Atoi(n); err != nil || r.Requests < 1 {
		return nil, bad
	}
	if per != "" && (per[0] < '0' || per[0] > '9') {
		per = "1" + per // 10/m: one minute
	}
	dur, err := caddy.ParseDuration(per)
	if err != nil || dur <= 0 {
		return nil, bad
	}
	r.Per = caddy.Duration(dur)
	if len(args) == 2 {
		if r.Burst, err = strconv.Atoi(args[1]); err != nil || r.Burst < 1 {
			return nil, bad
		}
	}
	return r, nil
}
