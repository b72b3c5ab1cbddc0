package route

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// maxUpstreamAnswer bounds how much of an upstream's (decompressed) answer a
// route reads: token endpoint answers are small.
const maxUpstreamAnswer = 1 << 20

// UpstreamAnswer is the upstream's answer to a forwarded route call, held
// back until what it confirms is recorded.
type UpstreamAnswer struct {
	Status int
	Header http.Header
	Raw    []byte
	// Truncated: raw is only the first part of a longer answer.
	Truncated bool
}

// Body returns the answer's body, gunzipped when the upstream compressed
// it with gzip. Another content coding is an error: the caller can then
// not read the answer.
func (a *UpstreamAnswer) Body() ([]byte, error) {
	if a.Truncated {
		return nil, fmt.Errorf("upstream answer: longer than the %d bytes held (max_upstream_answer)", len(a.Raw))
	}
	switch enc := strings.ToLower(strings.TrimSpace(a.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
		return a.Raw, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(bytes.NewReader(a.Raw))
		if err != nil {
			return nil, fmt.Errorf("upstream answer: gzip: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(zr, maxUpstreamAnswer+1))
		if err != nil {
			return nil, fmt.Errorf("upstream answer: gzip: %w", err)
		}
		if len(b) > maxUpstreamAnswer {
			return nil, fmt.Errorf("upstream answer: larger than %d bytes", maxUpstreamAnswer)
		}
		return b, nil
	default:
		return nil, fmt.Errorf("upstream answer: content coding %q cannot be read", enc)
	}
}

// unreadableError is a route request the route kind cannot read (no token,
// not a form). In forward mode, a kind with passUnreadable lets such a
// request go on to the upstream rather than answer the error; otherwise
// the error it wraps is the answer.
type unreadableError struct{ error }

func (e unreadableError) Unwrap() error { return e.error }

// unreadable marks err, the answer to give, as an unreadable request.
func unreadable(err error) error { return unreadableError{err} }

// IsUnreadable reports whether err says a request could not be read
// unambiguously (its body or parameters).
func IsUnreadable(err error) bool {
	var u unreadableError
	return errors.As(err, &u)
}

// ErrMethodNotRead is why passOn forwards a request in a method the route
// kind does not handle (a CORS preflight, a GET logout page).
var ErrMethodNotRead = errors.New("method not handled by the route")
