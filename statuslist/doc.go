// Package statuslist checks a verified JWT's status in its issuer's Token
// Status List (draft-ietf-oauth-status-list), free of Caddy: a Checker
// fetches, verifies, caches and refreshes the Status List Tokens, and
// answers, for a token's `status.status_list {idx, uri}`, the status its
// entry holds with a look-up of one to eight bits.
//
// # Configuration (caddymodule/gateway/status_list.go: JWTConfig.StatusList)
//
// Inside the `jwt <issuer>` block, so that the lists of an issuer's tokens
// are verified with that issuer's keys (jwks_url, discovery, public keys,
// HMAC secrets):
//
//	jwt <issuer> {
//	    jwks_url <url>
//	    status_list {                   # check status.status_list of this issuer's verified tokens
//	        allow_hosts <host...>       # hosts the lists may be fetched from; default: the issuer's host
//	        max_stale <duration>        # a list is still used this long after it should have been refreshed, while its issuer cannot be reached; never past its exp; default: 10m
//	        first_fetch_wait <duration> # a request whose list was never fetched waits this long for it, then is "unknown"; default: 1s
//	        fetch_timeout <duration>    # one fetch; default: 5s
//	        max_size <bytes>            # a Status List Token's size; default: 4MiB (decompressed list: 16MiB)
//	        refresh_min <duration>      # a ttl below it is raised to it; default: 10s
//	        refresh_max <duration>      # a ttl above it (or a list without ttl) is refreshed this often; default: 1h
//	        max_lists <n>               # lists cached at once; default: 1000
//	    }
//	}
//
// An unknown answer (a list not fetched, too stale, refused) is the
// handler's fail_mode: closed answers 503, open lets the token through.
//
// # Where the glue calls it
//
// One Checker per jwt block with status_list (Config.Keys backed by
// VerifierKeys over the handler's jwtverify.Set, Config.HTTPClient with the
// block's ca_file, Config.Logger the handler's), made at provision (it
// fetches nothing until a token names a list) and closed at cleanup.
//
// The request path does not verify JWTs today (the denylist check needs no
// trusted claim); a status claim may be trusted only once its token is
// verified. So the glue verifies the signature of a JWT whose issuer has
// status_list the first time it sees it and keeps the outcome (a cache of
// its own in caddymodule/gateway/status_list.go, keyed by a maphash of the
// token); after the denylist check passed:
//
//	// once per token, when it is verified the first time; keep entry
//	// beside the token's cached denylist query:
//	ref, ok, err := statuslist.ReadReference(tok.Payload)
//	entry := checker.Resolve(tok.Claims.Issuer, ref) // when ok
//	// every request carrying the token:
//	switch res := entry.Check(ctx); res.Verdict {
//	case statuslist.Rejected: // 401, reason "status_list" (res.Status says which)
//	case statuslist.Unknown:  // fail_mode; log res.Err (never the token)
//	}
//
// Checker.Lists reports each list held (age, next refresh, stale bound,
// last failure) for metrics and the admin API.
//
// A token whose status claim is malformed (err != nil) was issued broken:
// treat it as Unknown. Checker.Check(ctx, issuer, ref) answers the same
// without an Entry, finding the list by issuer and uri each time (a map
// look-up of two strings: about twice the cost).
//
// # What a check costs
//
// Check never fetches. A list is fetched the first time a token names it
// (one fetch however many requests wait for it: they wait at most
// Config.FirstFetchWait, then are Unknown), then refreshed in the
// background before its ttl runs out. A check of an Entry is an atomic
// load and a shift, and reads no clock (the refresher drops a copy past
// its bound): BenchmarkStatusListCheck (a cached list of 10^6 entries),
// in `make bench` (internal/benchtool/statuslist.go).
//
// # What the statuses mean here
//
// VALID (0) passes. Every other value is Rejected: INVALID (1) and
// SUSPENDED (2) as the draft defines them, and the application-specific
// (0x03, 0x0C-0x0F) and unregistered values too, because a gateway that
// does not know what a status means cannot say the token is valid. An
// index beyond the list is Rejected, as the draft says (section "Validation
// Rules").
//
// # What a list must be
//
// Fetched with GET and `Accept: application/statuslist+jwt` from an http(s)
// uri whose host is allowed; answered 200 with Content-Type
// application/statuslist+jwt, no larger than Config.MaxSize; redirects are
// refused (a redirect could leave the allowed hosts). A compact JWS with
// typ statuslist+jwt, verified with the keys of the referenced token's
// issuer (Config.Keys); sub equal to the uri; iat present, not in the
// future, and not older than the iat of the list held (a cache serving an
// older list would bring back tokens revoked since); iss, when
// present, equal to the referenced token's issuer; exp, when present, not
// passed (the list is never used past it); nbf not in the future; ttl, when
// present, a positive number; status_list.bits 1, 2, 4 or 8 and
// status_list.lst the base64url of a zlib stream, decompressed no larger
// than Config.MaxListBytes.
package statuslist
