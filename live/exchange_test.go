package live

import (
	"bufio"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
)

// testQueries registers a request under tok, or another key with X-Other.
type testQueries struct{ tok denylist.Key }

func (q testQueries) LiveQueries(r *http.Request, qs []denylist.Query) (int, time.Time) {
	if r.Header.Get("X-Other") != "" {
		qs[0] = query(1, key(denylist.KindToken, 2))
	} else {
		qs[0] = query(1, q.tok)
	}
	return 1, time.Time{}
}

type handlerFunc func(http.ResponseWriter, *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) error { return f(w, r) }

// sse streams an event every 10ms until the request's context ends, as a
// proxy copying an upstream's stream does.
var sse = handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
	if r.URL.Path == "/short" {
		_, err := w.Write([]byte("ok"))
		return err
	}
	w.Header().Set("Content-Type", "text/event-stream")
	rc := http.NewResponseController(w)
	for {
		if _, err := w.Write([]byte("data: tick\n\n")); err != nil {
			return err
		}
		if err := rc.Flush(); err != nil {
			return err
		}
		select {
		case <-r.Context().Done():
			return r.Context().Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
})

func TestExchangeEndsStreamingResponse(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		name := "HTTP/1.1"
		if h2 {
			name = "HTTP/2"
		}
		t.Run(name, func(t *testing.T) {
			reg := NewRegistry()
			tok := key(denylist.KindToken, 1)
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = reg.Serve(w, r, testQueries{tok}, sse)
			}))
			srv.EnableHTTP2 = h2
			if h2 {
				srv.StartTLS()
			} else {
				srv.Start()
			}
			t.Cleanup(srv.Close) // after the bodies are closed (cleanups run last first)
			client := srv.Client()

			// A short response registers nothing.
			res, err := client.Get(srv.URL + "/short")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.ProtoMajor != map[bool]int{false: 1, true: 2}[h2] {
				t.Fatalf("protocol %s", res.Proto)
			}
			if reg.Len() != 0 {
				t.Fatalf("a short response was registered")
			}

			open := func(other bool) *bufio.Reader {
				req, _ := http.NewRequest("GET", srv.URL+"/events", nil)
				if other {
					req.Header.Set("X-Other", "1")
				}
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { res.Body.Close() })
				br := bufio.NewReader(res.Body)
				if _, err := br.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
				return br
			}
			victim, bystander := open(false), open(true)
			deadline := time.Now().Add(5 * time.Second)
			for reg.Len() != 2 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			if reg.Len() != 2 {
				t.Fatalf("registered %d streams, want 2", reg.Len())
			}
			start := time.Now()
			reg.Revoked([]denylist.Entry{{Key: tok, Cutoff: denylist.CutoffAlways, Expires: time.Now().Add(time.Hour).Unix()}})
			var err2 error
			for err2 == nil {
				var line string
				line, err2 = victim.ReadString('\n')
				if err2 == nil && !strings.HasPrefix(line, "data") && line != "\n" {
					t.Fatalf("read %q", line)
				}
			}
			if took := time.Since(start); took > 2*time.Second {
				t.Fatalf("stream ended %v after the revocation", took)
			}
			if err2.Error() == "EOF" {
				t.Fatalf("the stream ended as if complete (EOF); want it aborted")
			}
			t.Logf("revoked stream ended after %v: %v", time.Since(start), err2)
			// The other stream still delivers.
			for i := 0; i < 5; i++ {
				if _, err := bystander.ReadString('\n'); err != nil {
					t.Fatalf("the stream of a token not revoked ended: %v", err)
				}
			}
		})
	}
}
