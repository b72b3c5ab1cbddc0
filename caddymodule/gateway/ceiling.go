package gateway

import (
	"context"
	"fmt"
	"net/http"

	"go.uber.org/zap"

	"github.com/caddy-token-revocation/caddy-token-revocation/caddymodule/route"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// A ceiling on the size of the store.
//
// Entries live until their tokens expire (default_ttl for an opaque token:
// days in some deployments), so even rate-limited callers can grow the
// denylist for as long as they keep calling. max_entries and
// max_owner_records bound it: a revocation route whose store already holds
// max_entries entries answers 503 (with Retry-After, "denylist full")
// before it stores anything, or in forward mode before it forwards (so
// the upstream does not revoke what the gateway could not record); a token
// endpoint observer whose owner index holds max_owner_records records does
// the same, whatever the fail mode (a token handed out unrecorded could
// not be revoked with its user or grant). What a call was admitted for is stored whole, so a
// ceiling may be passed by the few entries of the calls in flight; a
// revocation that is answered 2xx is never dropped. The admin API is not
// limited: an operator can always revoke. Within max_entries, the quotas
// (quota.go) keep a share from anonymous callers and bound each caller.
//
// Counting is cheap: the size of the in-process index (embedded store,
// Redis mirror), HLEN of the entries hash (Redis, check_mode direct), and
// a counter the owner scripts keep (Redis owner index; records written
// before it existed are not counted). Expired entries count until purged
// (every minute). A store that cannot be counted (Redis down) does not
// block: the store's own answer decides.
//
// Defaults: 1,000,000 entries, 1,000,000 owner records. A million entries
// take about 355 MB in Redis and 110-290 MB in each Caddy's mirror: what a
// modest Redis and gateway can hold, and room for over 100,000
// revocations a day with opaque tokens kept 7 days (JWT entries go when
// the token expires, minutes to hours). Raise them for more; the metric
// refused_total{reason="denylist_full"} says when it is reached.

// Defaults of the store ceilings.
const (
	DefaultMaxEntries      = 1_000_000
	DefaultMaxOwnerRecords = 1_000_000
)

// storeFull answers a call refused because the store holds its ceiling:
// 503 (Retry-After is added as to every 503). It counts as the store being
// unavailable (errors.Is denylist.ErrUnavailable).
type storeFull struct{ what, setting string }

func (e *storeFull) Error() string   { return "token_revocation: " + e.what + " full" }
func (e *storeFull) StatusCode() int { return http.StatusServiceUnavailable }
func (e *storeFull) Is(target error) bool {
	return target == denylist.ErrUnavailable
}

func (e *storeFull) Answer(w http.ResponseWriter) error {
	return route.WriteOAuthError(w, &route.OAuthError{Status: http.StatusServiceUnavailable, Code: "temporarily_unavailable",
		Description: e.what + " full: the store holds " + e.setting + "; try again later"})
}

// ceilings are the store's ceilings, -1 for none.
type ceilings struct {
	MaxEntries, MaxOwnerRecords int64
}

// newCeilings validates max_entries and max_owner_records (0: the
// default) and returns them, defaults applied.
func newCeilings(maxEntries, maxOwnerRecords int64) (ceilings, error) {
	if maxEntries == 0 {
		maxEntries = DefaultMaxEntries
	}
	if maxOwnerRecords == 0 {
		maxOwnerRecords = DefaultMaxOwnerRecords
	}
	if maxEntries < -1 || maxOwnerRecords < -1 {
		return ceilings{}, fmt.Errorf("token_revocation: max_entries and max_owner_records must be positive (or off)")
	}
	return ceilings{MaxEntries: maxEntries, MaxOwnerRecords: maxOwnerRecords}, nil
}

// admit checks, before a call to rt stores anything, that store is below
// its ceiling: the owner index for a token endpoint observer, the entries
// for any other route. A refusal is logged to errLog.
func (cl ceilings) admit(ctx context.Context, store denylist.Store, errLog *route.RateLimitedLogger, rt *route.Compiled) error {
	c := denylist.CounterOf(store)
	if c == nil {
		return nil
	}
	what, setting, limit, count := "denylist", "max_entries", cl.MaxEntries, c.Entries
	if rt.Kind.ForwardOnly { // oauth_token, usergrid_token: they write owner records
		what, setting, limit, count = "owner index", "max_owner_records", cl.MaxOwnerRecords, c.OwnerRecords
	}
	if limit < 0 {
		return nil
	}
	n, err := count(ctx)
	if err != nil || n < limit {
		return nil // uncountable: the store's own answer decides
	}
	full := &storeFull{what: what, setting: fmt.Sprintf("%s (%d)", setting, limit)}
	countRefused(refusedFull[what])
	errLog.Error(what+" full: call refused with 503", zap.String("route", rt.Label()), zap.Int64("count", n), zap.Int64(setting, limit))
	return full
}

// refusedFull is the refused_total reason of each ceiling.
var refusedFull = map[string]string{"denylist": "denylist_full", "owner index": "owner_index_full"}
