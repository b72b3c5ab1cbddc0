package tests

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSlowCheckedBody (issue 23, item 7): the body of an ordinary proxied
// request, which the gateway reads for its tokens, must arrive within
// body_timeout as a revocation's must: a client that sends the headers and
// then trickles the body (a form, JSON) is answered 408 and the upstream
// sees nothing. (Before: read for as long as the client liked, then
// proxied.) A prompt body is still checked and proxied.
func TestSlowCheckedBody(t *testing.T) {
	up := startUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		store embedded
		body_timeout 1s
	}
	reverse_proxy %s
}`, up.Addr())

	for _, tc := range []struct{ contentType, body string }{
		{"application/x-www-form-urlencoded", "access_token=slow-" + strings.Repeat("a", 30)},
		{"application/json", `{"data":"slow-` + strings.Repeat("b", 30) + `"}`},
	} {
		t.Run(tc.contentType, func(t *testing.T) {
			up.Reset()
			status, sent := trickleBody(t, c, tc.contentType, tc.body, 100*time.Millisecond)
			t.Logf("answered %d after %d of %d body bytes", status, sent, len(tc.body))
			if status != http.StatusRequestTimeout {
				t.Errorf("a body trickled past body_timeout (1s): %d, want 408", status)
			}
			if n := up.Count(); n != 0 {
				t.Errorf("the upstream received %d requests of a body that did not arrive in time, want none", n)
			}
		})
	}
	up.Reset()
	if res := postForm(t, c.URL("/api"), url.Values{"access_token": {"prompt"}}); res.Status != http.StatusOK || res.Echo(t).Body != "access_token=prompt" {
		t.Errorf("a prompt form body: %d %q", res.Status, res.Body)
	}
}

// trickleBody sends a POST's headers, then its body one byte every
// interval until the gateway answers (or the body is sent), and returns
// the answer's status and how many body bytes were sent by then.
func trickleBody(t *testing.T, c *Caddy, contentType, body string, interval time.Duration) (status, sent int) {
	t.Helper()
	conn, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(c.HTTPPort))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := fmt.Fprintf(conn, "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", contentType, len(body)); err != nil {
		t.Fatal(err)
	}
	answered := make(chan struct{})
	written := make(chan int, 1)
	go func() {
		i := 0
		defer func() { written <- i }()
		for ; i < len(body); i++ {
			select {
			case <-answered:
				return
			case <-time.After(interval):
			}
			if _, err := conn.Write([]byte{body[i]}); err != nil {
				return
			}
		}
	}()
	_ = conn.SetReadDeadline(time.Now().Add(time.Duration(len(body)+50) * interval))
	res, err := http.ReadResponse(bufio.NewReader(conn), nil)
	close(answered)
	sent = <-written
	if err != nil {
		t.Fatalf("no answer to a trickled body (%d of %d bytes sent): %v", sent, len(body), err)
	}
	res.Body.Close()
	return res.StatusCode, sent
}
