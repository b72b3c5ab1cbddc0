package ssf

import (
	"context"
	"errors"
	"net/http"
	"time"

	"go.uber.org/zap"
)

// pollRequest is an RFC 8936 section 2.4 poll request.
type pollRequest struct {
	Ack               []string             `json:"ack,omitempty"`
	SetErrs           map[string]*SETError `json:"setErrs,omitempty"`
	MaxEvents         int                  `json:"maxEvents"`
	ReturnImmediately bool                 `json:"returnImmediately"`
}

// pollAnswer is an RFC 8936 section 2.5 poll answer.
type pollAnswer struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// PollResult says what one poll did.
type PollResult struct {
	// Received is the number of SETs the transmitter sent.
	Received int
	// Acked is the number of acknowledgements the transmitter took with
	// this poll (owed by earlier ones).
	Acked int
	// Owed is the number of acknowledgements owed for the next poll.
	Owed int
	// Failed is the number of SETs left unacknowledged because Apply or
	// the keys failed: the transmitter delivers them again.
	Failed int
	// MoreAvailable is the transmitter's moreAvailable.
	MoreAvailable bool
}

// PollOnce makes one poll (RFC 8936): it sends the acknowledgements State
// owes and the errors of SETs refused since the last poll, and handles
// each SET of the answer. A SET is acknowledged (at the next poll) once
// Apply returned nil for it, or when it was applied before; one refused
// (bad signature, audience, ...) is reported in setErrs; one whose Apply
// failed, or whose keys could not be fetched, is neither, and the
// transmitter delivers it again. returnImmediately overrides
// Config.ReturnImmediately when set.
func (r *Receiver) PollOnce(ctx context.Context, returnImmediately bool) (PollResult, error) {
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	var res PollResult
	s := r.Stream()
	if s == nil {
		return res, errors.New("ssf: poll before Start")
	}
	acks, err := r.cfg.State.PendingAcks(ctx)
	if err != nil {
		return res, err
	}
	req := pollRequest{Ack: acks, MaxEvents: r.cfg.MaxEvents, ReturnImmediately: returnImmediately || r.cfg.ReturnImmediately}
	if len(r.setErrs) > 0 {
		req.SetErrs = r.setErrs
	}
	pctx, cancel := context.WithTimeout(ctx, r.cfg.PollTimeout)
	defer cancel()
	var ans pollAnswer
	if err := r.streams.do(pctx, "poll", http.MethodPost, s.Delivery.EndpointURL, req, &ans); err != nil {
		return res, err
	}
	// The transmitter took the acknowledgements and errors.
	if len(acks) > 0 {
		if err := r.cfg.State.Acknowledged(ctx, acks); err != nil {
			return res, err
		}
	}
	res.Acked = len(acks)
	r.setErrs = map[string]*SETError{}
	res.Received, res.MoreAvailable = len(ans.Sets), ans.MoreAvailable
	for jti, raw := range ans.Sets {
		if jti == "" {
			continue // nothing to acknowledge it by
		}
		serr := r.handle(ctx, raw, jti)
		switch {
		case serr == nil:
		case serr.retryable():
			res.Failed++
		default:
			r.setErrs[jti] = serr
		}
	}
	owed, err := r.cfg.State.PendingAcks(ctx)
	if err != nil {
		return res, err
	}
	res.Owed = len(owed)
	return res, nil
}

// Run polls until ctx is done: each poll right after the last (a long
// poll waits at the transmitter), immediately again while the transmitter
// has more or acknowledgements are owed, and after a failed poll a wait
// that doubles from RetryBackoff up to a minute. It returns ctx's error.
func (r *Receiver) Run(ctx context.Context) error {
	backoff := r.cfg.RetryBackoff
	immediate := false
	for {
		res, err := r.PollOnce(ctx, immediate)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		immediate = res.MoreAvailable || res.Owed > 0 || res.Failed > 0
		switch {
		case err != nil:
			r.log.Warn("ssf poll failed", zap.String("issuer", r.cfg.Issuer), zap.Duration("retry_in", backoff), zap.Error(err))
		case res.Failed > 0 && res.Failed == res.Received:
			// Every SET failed (the store or the keys): wait before the
			// transmitter sends them again.
		default:
			backoff = r.cfg.RetryBackoff
			continue
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		backoff = min(2*backoff, maxRetryBackoff)
	}
}
