package denylist

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestWriteRefusal: the replies of Redis 7.0 and 7.2 to a script command
// or key the ACL denies, and other errors retrying does not cure, are
// refusals; a full Redis, a busy one, a lost connection are not.
func TestWriteRefusal(t *testing.T) {
	for msg, refusal := range map[string]bool{
		"ERR The user executing the script can't run this command or subcommand script: d7a6, on @user_script:21.": true,
		"NOPERM User trv has no permissions to run the 'xadd' command script: d7a6, on @user_script:21.":           true,
		"ERR The user executing the script can't access at least one of the keys mentioned in the command":         true,
		"WRONGTYPE Operation against a key holding the wrong kind of value script: d7a6, on @user_script:3.":       true,
		"READONLY You can't write against a read only replica.":                                                    true,
		"ERR user_script:4: Script attempted to access nonexistent global variable":                                true,
		"OOM command not allowed when used memory > 'maxmemory'. script: d7a6, on @user_script:21.":                false,
		"BUSY Redis is busy running a script.":                                                                     false,
		"LOADING Redis is loading the dataset in memory":                                                           false,
		"dial tcp 127.0.0.1:6379: connect: connection refused":                                                     false,
		"context deadline exceeded": false,
	} {
		err := fmt.Errorf("%w: redis address x: %v", ErrUnavailable, errors.New(msg))
		if got := writeRefusal(err) != ""; got != refusal {
			t.Errorf("%q: refusal %v, want %v", msg, got, refusal)
		}
	}
}

// TestWriteFailuresHoldUntilStored: a refusal makes the store not ready
// until a write succeeds, or writeFailureHold passes without another;
// other errors change nothing.
func TestWriteFailuresHoldUntilStored(t *testing.T) {
	var w writeFailures
	t0 := time.Now()
	w.note(errors.New("context deadline exceeded"), t0)
	if why := w.failing(t0); why != "" {
		t.Fatalf("a timeout made revocations fail: %q", why)
	}
	w.note(errors.New("NOPERM User u has no permissions to run the 'xadd' command"), t0)
	if why := w.failing(t0.Add(time.Second)); !strings.Contains(why, "ACL") {
		t.Fatalf("after a NOPERM: %q, want a reason naming the ACL", why)
	}
	if why := w.failing(t0.Add(writeFailureHold)); why != "" {
		t.Fatalf("a refusal %s ago still fails readiness: %q", writeFailureHold, why)
	}
	w.note(errors.New("NOPERM User u has no permissions to run the 'xadd' command"), t0)
	w.note(nil, t0.Add(time.Second))
	if why := w.failing(t0.Add(2 * time.Second)); why != "" {
		t.Fatalf("a write stored after the refusal: still %q", why)
	}
}
