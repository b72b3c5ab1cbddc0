package denylist

import (
	"strings"
	"sync"
	"time"
)

// writeFailureHold is how long readiness stays false after a write failed
// for a reason that retrying does not cure (writeRefusal) when no write has
// succeeded since: a revocation stored sooner makes it ready at once.
// Revocations may be rare; without the bound a fixed ACL would leave
// readiness false until the next one.
const writeFailureHold = time.Minute

// writeRefusals are the Redis error replies that retrying does not cure,
// with what readiness says of them: the answer of a healthy server that
// refuses the write (its ACL, a script error, a key of another type, a
// replica), where every revocation fails while checks, which read, pass.
var writeRefusals = []struct{ match, why string }{
	// Redis 7.2 and later: "NOPERM User u has no permissions to run the
	// 'xadd' command"; 7.0 and 7.1, inside a script: "ERR The user
	// executing the script can't run this command or subcommand" (or
	// "can't access at least one of the keys").
	{"NOPERM", "the Redis ACL denies a command or key the revocation scripts use (NOPERM): grant what the Redis ACL in docs/operations.md lists"},
	{"can't run this command", "the Redis ACL denies a command the revocation scripts run (NOPERM): grant what the Redis ACL in docs/operations.md lists"},
	{"can't access at least one of the keys", "the Redis ACL denies a key the revocation scripts write (NOPERM): grant the store's keys (key_prefix*)"},
	{"WRONGTYPE", "a key of the denylist holds another type (WRONGTYPE): another application writes under the store's key_prefix"},
	{"READONLY", "the Redis server is a read-only replica (READONLY): point the store at the primary"},
	{"user_script", "a revocation script fails in Redis"},
	{"Error running script", "a revocation script fails in Redis"},
}

// transientReplies are Redis error replies that pass (a full Redis, a
// busy script, a dataset loading, a failover), even when a script's error
// names it "@user_script".
var transientReplies = []string{"OOM command not allowed", "BUSY", "LOADING", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN"}

// writeRefusal returns what readiness says of err, a write's error, when
// retrying it cannot succeed; "" when it may (a timeout, a connection
// lost, a full Redis: those are Down's and the mirror's to report).
func writeRefusal(err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	for _, t := range transientReplies {
		if strings.Contains(msg, t) {
			return ""
		}
	}
	for _, r := range writeRefusals {
		if strings.Contains(msg, r.match) {
			return r.why
		}
	}
	return ""
}

// writeFailures remembers the last write the backend refused for a reason
// retrying does not cure, until a write succeeds (see writeFailureHold).
type writeFailures struct {
	mu   sync.Mutex
	at   time.Time
	why  string
	last string // the error, for the reason
}

// note records the outcome of a write: a refusal, or a success that clears
// it. Other errors change nothing.
func (w *writeFailures) note(err error, now time.Time) {
	if err == nil {
		w.mu.Lock()
		w.why, w.last = "", ""
		w.mu.Unlock()
		return
	}
	why := writeRefusal(err)
	if why == "" {
		return
	}
	w.mu.Lock()
	w.at, w.why, w.last = now, why, err.Error()
	w.mu.Unlock()
}

// failing returns why revocations fail, when one was refused within
// writeFailureHold of now and none stored since; "" otherwise.
func (w *writeFailures) failing(now time.Time) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.why == "" || now.Sub(w.at) >= writeFailureHold {
		return ""
	}
	return "revocations fail: " + w.why + " (" + w.last + ")"
}
