package gateway

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// deadlineWriter records the read deadlines set through
// http.ResponseController.
type deadlineWriter struct {
	http.ResponseWriter
	set []time.Time
}

func (w *deadlineWriter) SetReadDeadline(t time.Time) error {
	w.set = append(w.set, t)
	return nil
}

// TestBodyReadDeadline: a request with a body is read under body_timeout,
// lifted afterwards; a server's shorter read_timeout stays the bound, and
// is restored (not lifted) afterwards; a request without a body, or with
// body_timeout negative, sets nothing.
func TestBodyReadDeadline(t *testing.T) {
	near := func(got time.Time, d time.Duration) bool {
		want := time.Now().Add(d)
		return got.After(want.Add(-time.Second)) && !got.After(want)
	}
	withServer := func(r *http.Request, read time.Duration) *http.Request {
		srv := &caddyhttp.Server{ReadTimeout: caddy.Duration(read)}
		return r.WithContext(context.WithValue(r.Context(), caddyhttp.ServerCtxKey, srv))
	}
	post := func() *http.Request {
		return httptest.NewRequest(http.MethodPost, "/api", strings.NewReader("access_token=x"))
	}
	for _, tc := range []struct {
		name      string
		h         Runtime
		r         *http.Request
		set, lift time.Duration // -1: no call
	}{
		{"a body, default body_timeout", Runtime{}, post(), DefaultBodyTimeout, 0},
		{"a body, body_timeout 2s", Runtime{BodyTimeout: 2 * time.Second}, post(), 2 * time.Second, 0},
		{"a body, the server's read_timeout longer", Runtime{}, withServer(post(), time.Minute), DefaultBodyTimeout, time.Minute},
		{"a body, the server's read_timeout shorter", Runtime{}, withServer(post(), time.Second), -1, -1},
		{"no body", Runtime{}, httptest.NewRequest(http.MethodGet, "/api", nil), -1, -1},
		{"body_timeout negative", Runtime{BodyTimeout: -1}, post(), -1, -1},
	} {
		w := &deadlineWriter{ResponseWriter: httptest.NewRecorder()}
		tc.h.bodyReadDeadline(w, tc.r).end()
		if tc.set < 0 {
			if len(w.set) != 0 {
				t.Errorf("%s: deadlines %v set, want none", tc.name, w.set)
			}
			continue
		}
		if len(w.set) != 2 || !near(w.set[0], tc.set) {
			t.Errorf("%s: deadlines %v, want now+%s then lifted", tc.name, w.set, tc.set)
			continue
		}
		if tc.lift == 0 && !w.set[1].IsZero() || tc.lift > 0 && !near(w.set[1], tc.lift) {
			t.Errorf("%s: lifted to %v, want now+%s (0: none)", tc.name, w.set[1], tc.lift)
		}
	}
}
