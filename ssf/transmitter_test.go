package ssf

// The transmitter of the tests is internal/ssftest's (shared with the
// end-to-end tests): it serves the SSF 1.0 and RFC 8935/8936
// specifications' own exchanges, and the SETs of the CAEP, RISC and SSF
// specifications' examples, signed with go-jose.

import (
	"context"
	"sync"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/ssftest"
)

type transmitter = ssftest.Transmitter

func newTransmitter(t *testing.T) *transmitter { return ssftest.New(t) }

// recorder is an Apply callback that counts what it stored per jti, and
// fails while fail says so.
type recorder struct {
	mu      sync.Mutex
	applied map[string]int
	sets    []*SET
	fail    func(*SET) error
}

func newRecorder() *recorder { return &recorder{applied: map[string]int{}} }

func (rc *recorder) apply(_ context.Context, s *SET) error {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if rc.fail != nil {
		if err := rc.fail(s); err != nil {
			return err
		}
	}
	rc.applied[s.JTI]++
	rc.sets = append(rc.sets, s)
	return nil
}

func (rc *recorder) count(jti string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.applied[jti]
}

func (rc *recorder) total() int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for _, c := range rc.applied {
		n += c
	}
	return n
}
