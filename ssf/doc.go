// Package ssf is a Shared Signals Framework 1.0 receiver, free of Caddy:
// it discovers a transmitter, creates or reuses its stream, receives the
// stream's Security Event Tokens (RFC 8417) pushed (RFC 8935) or polled
// (RFC 8936), verifies them against the transmitter's JWKS, and hands the
// cut-offs their CAEP and RISC events ask for to a callback that stores
// them. Like engine/ and live/, it reads no Caddyfile, counts no
// Prometheus metric and stores nothing itself: that is the glue's.
//
// # The Caddyfile block it is meant for
//
// One block per transmitter, in the token_revocation directive (the glue
// is caddymodule/gateway/ssf.go, which also takes a namespace option; its godoc
// and docs/caddyfile.md hold the grammar as built):
//
//	ssf <transmitter-issuer> {
//		delivery              poll|push              # default poll
//		push_path             <path>                 # push: the route the transmitter POSTs to
//		push_url              <url>                  # push: that route as the transmitter reaches it
//		push_authorization    <header value>         # push: required Authorization of each push
//		push_max_age          <duration>             # push: older SETs refused; default 7d
//		bearer_token          <token>                # authorizes stream management and polls, or:
//		client_credentials    <token_url> <client_id> <client_secret> [<scope>...]
//		audience              <aud>...               # default: the stream's aud
//		token_issuers         <iss>...               # whose users iss_sub may name; default the transmitter's issuer
//		email_is_sub                                 # an email subject names the user whose sub it is
//		events                <event-type-uri>...    # asked for at creation; default RevocationEvents
//		max_events            <n>                    # default 100
//		return_immediately                           # default: long polls
//		poll_timeout          <duration>             # default 70s
//	}
//
// and it maps to Config field by field (push_url is PushEndpoint;
// bearer_token a BearerToken, client_credentials a *ClientCredentials;
// token_issuers and email_is_sub are Subjects).
//
// # How the glue maps it onto the store
//
//   - Provision builds one Receiver per block with New and calls Start in
//     the background, retried with backoff (Caddy starts while the
//     transmitter is down, as it does without Redis); for poll it runs
//     Run until the handler is cleaned up. Every instance may poll the
//     same stream: the store is shared, and State is too.
//   - Config.Apply turns a SET into an engine.Revocation with Cutoffs =
//     SET.Cutoffs (in the handler's namespace) and Confirmed set (the
//     identity provider has already revoked: the entries go through the
//     outbox and are never lost), and returns Recorder.Store's error. The
//     SET is acknowledged only when it returned nil: a polled SET whose
//     store failed comes again, a pushed one is answered 503 and the
//     transmitter retries it.
//   - Push: the request at push_path is handed to Receiver.ServeHTTP
//     (before the route kinds; the existing caep route stays for
//     transmitters that push without stream management).
//   - State is backed by the store (StoreState over the capability
//     denylist.SignalState: values and sets whose members expire, per
//     issuer; in Redis a key and a sorted set scored by expiry, in bbolt
//     a bucket): the stream_id, the
//     event keys applied (kept as long as a transmitter may deliver a SET
//     again, a week say) and the jtis owed an acknowledgement. A crash
//     between Apply's return and MarkApplied is the one window in which a
//     SET redelivered is applied again: its cut-off moves to the later
//     time, revoking more, never less.
//   - Metrics become token_revocation_ssf_events_total{issuer, type,
//     outcome="received|applied|ignored"},
//     token_revocation_ssf_sets_rejected_total{issuer, code},
//     token_revocation_ssf_stream_status{issuer, status} (1 for the
//     current status) and the histogram
//     token_revocation_ssf_poll_lag_seconds{issuer}.
//
// # Events and the cut-offs they ask for
//
// Each cut-off is at the time the SET is received (not its
// event_timestamp: a transmitter's clock or a poll's delay can only make
// it revoke more).
//
//   - CAEP session-revoked: the session its subject names, else the user;
//   - CAEP credential-change: the user, when change_type is revoke or
//     delete, or update of a password or pin (a reset); a created
//     credential, or another updated (a renamed passkey), is ignored;
//   - RISC account-disabled, account-purged, credential-compromise,
//     sessions-revoked, tokens-revoked, identifier-changed (the old
//     identifier, which the subject names): the user;
//   - SSF verification: Verified reports its state; stream-updated: Status
//     and the StreamStatus metric;
//   - any other event type is acknowledged and counted as ignored.
//
// # Subject identifiers (RFC 9493) and the claim each meets
//
// The subject is the SET's sub_id, else the event's subject member (RISC,
// and CAEP before SSF 1.0, where format was subject_type).
//
//   - iss_sub: the user whose token has iss = its iss and sub = its sub
//     (denylist.KindUser; iss must be one of Subjects.TokenIssuers);
//   - opaque: in session-revoked, the session whose token has sid = id
//     (denylist.KindSession); in the others, the user with sub = id; the
//     issuer is Subjects.TokenIssuers[0];
//   - email: with Subjects.EmailIsSub, the user with sub = email (issuer
//     TokenIssuers[0]); else ignored: a token's email claim is not a key
//     the checker looks up;
//   - complex: its session member for session-revoked when present, else
//     its user member (each read as above); tenant and the others are not
//     read;
//   - aliases: the first identifier that maps;
//   - phone_number, account, did, uri: ignored, no token claim holds them.
//
// A subject that is malformed, or names another issuer's user, refuses
// the SET (400 invalid_request when pushed, setErrs when polled); one
// that is ignored acknowledges it.
//
// # Delivery
//
// Push: ServeHTTP checks the push_authorization, Content-Type
// application/secevent+jwt, verifies the SET (waiting once for a key
// published within jwks_min_refresh, since a push is not sent again) and
// answers 202 once Apply returned nil; 400 with the RFC 8935 error object
// for a bad SET (invalid_key, invalid_issuer, invalid_audience,
// invalid_request, including a SET whose txn, else jti, was applied
// before, and one issued more than PushMaxAge ago); 401
// authentication_failed; 503 when the keys or the store failed, or the
// same event is being stored by another request of this instance (two
// instances storing the same event at once both store it: the later
// cut-off wins).
//
// Poll: PollOnce sends the acknowledgements State owes and the setErrs of
// the SETs refused since the last poll, with maxEvents and
// returnImmediately, and handles the SETs of the answer; a SET applied
// before (its acknowledgement lost, or owed across a restart) is
// acknowledged again without calling Apply. Run polls in a loop: long
// polls unless ReturnImmediately, an immediate poll while the transmitter
// has more or acknowledgements are owed, backoff after a failure.
//
// # Counterparts in the tests
//
// No installable transmitter implements stream management with both
// deliveries: i2goSignals (a Go SSF router) declares the module path
// "i2goSignals", which cannot be required, and keeps its streams in
// MongoDB; caep.dev-receiver and ssfreceiver are receivers, and the Go
// proxy reachable here answers 403 for the sgnl-ai/caep.dev modules
// (its SET builder included); npm has no SSF transmitter. The tests'
// transmitter (transmitter_test.go) serves SSF 1.0's and RFC
// 8935/8936's exchanges and the CAEP, RISC and SSF specifications'
// example SETs, signed with go-jose; it lives in internal/ssftest, which
// the end-to-end tests (tests/ssf_test.go) use too.
package ssf
