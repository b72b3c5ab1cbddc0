package tests

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/caddy-token-revocation/caddy-token-revocation/internal/wstest"
)

// First messages of WebSockets (issue 22, layer 3): a client that
// authenticates in a message after the upgrade — graphql-ws's
// connection_init, Socket.IO's auth packet — is checked before the
// upstream reads the message. The upstreams are real: graphql-ws and
// Socket.IO servers in tests/live/upstream, which report at /received
// every message and auth they got.

// wsGateway is the gateway in front of the live upstream, on the
// embedded store.
type wsGateway struct {
	caddy    *Caddy
	addr     string // the gateway's host:port
	upstream string
}

func startWSGateway(t *testing.T, options string) *wsGateway {
	up := startLiveUpstream(t)
	c := startCaddy(t, `http:// {
	token_revocation {
		revoke /revoke
		%s
	}
	reverse_proxy %s
}`, options, up)
	u, _ := url.Parse(c.URL("/"))
	return &wsGateway{caddy: c, addr: u.Host, upstream: up}
}

func (g *wsGateway) revoke(t *testing.T, tok string) {
	t.Helper()
	if res := postForm(t, g.caddy.URL("/revoke"), url.Values{"token": {tok}}); res.Status != 200 {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
}

// received is what the upstream's apps got, asked directly.
func (g *wsGateway) received(t *testing.T) string {
	t.Helper()
	res := get(t, "http://"+g.upstream+"/received")
	var got []string
	if err := json.Unmarshal([]byte(res.Body), &got); err != nil {
		t.Fatalf("upstream /received: %v (%s)", err, res.Body)
	}
	return strings.Join(got, "\n")
}

// reached checks that the upstream got the passed token's message and
// not the refused one's.
func (g *wsGateway) reached(t *testing.T, passed, refused string) {
	t.Helper()
	got := g.received(t)
	if !strings.Contains(got, passed) {
		t.Fatalf("the upstream did not report the message that passed: %s", got)
	}
	if strings.Contains(got, refused) {
		t.Errorf("the upstream received the refused message:\n%s", got)
	}
}

// graphqlInit opens /graphql (graphql-transport-ws) and sends
// connection_init with tok in its payload, as Apollo's and most GraphQL
// clients send it.
func graphqlInit(t *testing.T, g *wsGateway, tok string) *wsConn {
	t.Helper()
	ws := openWS(t, g.addr, "/graphql", "Sec-WebSocket-Protocol: graphql-transport-ws")
	init := `{"type":"connection_init","payload":{"Authorization":"Bearer ` + tok + `"}}`
	if err := ws.Send(1, []byte(init)); err != nil {
		t.Fatal(err)
	}
	return ws
}

// acked reads the server's connection_ack.
func acked(t *testing.T, ws *wsConn, what string) {
	t.Helper()
	op, p, err := ws.Next(10 * time.Second)
	if err != nil || op != 1 || !strings.Contains(string(p), `"connection_ack"`) {
		t.Fatalf("%s: got opcode %d %q, %v; want connection_ack", what, op, p, err)
	}
}

// refused checks the client got the close frame 1008 "token revoked".
func refused(t *testing.T, ws *wsConn, what string) {
	t.Helper()
	code, reason, err := ws.Closed(10 * time.Second)
	if err != nil || code != 1008 || reason != "token revoked" {
		t.Fatalf("%s: close %d %q, %v; want 1008 \"token revoked\"", what, code, reason, err)
	}
}

func TestWebSocketFirstMessages(t *testing.T) {
	g := startWSGateway(t, "")

	t.Run("graphql-ws connection_init with a revoked token", func(t *testing.T) {
		revoked, valid := "opaque-"+randomString(), "opaque-"+randomString()
		g.revoke(t, revoked)
		refused(t, graphqlInit(t, g, revoked), "connection_init with the revoked token")
		// The control, after it: the upstream reads a valid one, so it
		// would have read the revoked one had it reached it.
		acked(t, graphqlInit(t, g, valid), "connection_init with a valid token")
		g.reached(t, valid, revoked)
	})

	t.Run("token in connection_init revoked later", func(t *testing.T) {
		tok, other := "opaque-"+randomString(), "opaque-"+randomString()
		ws := graphqlInit(t, g, tok)
		acked(t, ws, "connection_init")
		ows := graphqlInit(t, g, other)
		acked(t, ows, "another connection_init")
		g.revoke(t, tok)
		refused(t, ws, "the connection whose connection_init token was revoked")
		// The other one stays open: it answers a ping.
		if err := ows.Send(1, []byte(`{"type":"ping"}`)); err != nil {
			t.Fatal(err)
		}
		if op, p, err := ows.Next(10 * time.Second); err != nil || op != 1 || !strings.Contains(string(p), `"pong"`) {
			t.Fatalf("the other connection: opcode %d %q, %v; want its pong", op, p, err)
		}
	})

	t.Run("Socket.IO auth", func(t *testing.T) {
		revoked, valid := "opaque-"+randomString(), "opaque-"+randomString()
		g.revoke(t, revoked)
		connect := func(tok string) *wsConn {
			ws := openWS(t, g.addr, "/socket.io/?EIO=4&transport=websocket")
			if op, p, err := ws.Next(10 * time.Second); err != nil || op != 1 || !strings.HasPrefix(string(p), "0{") {
				t.Fatalf("Engine.IO open packet: opcode %d %q, %v", op, p, err)
			}
			if err := ws.Send(1, []byte(`40{"token":"`+tok+`"}`)); err != nil {
				t.Fatal(err)
			}
			return ws
		}
		refused(t, connect(revoked), "Socket.IO connect with the revoked token")
		ws := connect(valid)
		if op, p, err := ws.Next(10 * time.Second); err != nil || op != 1 || !strings.HasPrefix(string(p), `40{"sid":`) {
			t.Fatalf("Socket.IO connect with a valid token: opcode %d %q, %v; want 40{\"sid\":...}", op, p, err)
		}
		g.reached(t, valid, revoked)
	})

	t.Run("XMPP SASL PLAIN with a character reference", func(t *testing.T) {
		// RFC 7395's framing: the server's XML parser decodes "&#NN;"
		// inside <auth>'s base64 before it decodes the base64.
		revoked, valid := "opaque-"+randomString(), "opaque-"+randomString()
		g.revoke(t, revoked)
		auth := func(tok string) string {
			b := base64.StdEncoding.EncodeToString([]byte("\x00ada\x00" + tok))
			return "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + b[:6] + "&#" + strconv.Itoa(int(b[6])) + ";" + b[7:] + "</auth>"
		}
		ws := openWS(t, g.addr, "/ws?every=0")
		if err := ws.Send(1, []byte(auth(revoked))); err != nil {
			t.Fatal(err)
		}
		refused(t, ws, "<auth> with the revoked token")
		ws = openWS(t, g.addr, "/ws?every=0")
		if err := ws.Send(1, []byte(auth(valid))); err != nil {
			t.Fatal(err)
		}
		if op, p, err := ws.Next(10 * time.Second); err != nil || op != 1 || string(p) != auth(valid) {
			t.Fatalf("<auth> with a valid token: opcode %d %q, %v; want it echoed", op, p, err)
		}
	})

	t.Run("a message past the window's size", func(t *testing.T) {
		ws := openWS(t, g.addr, "/ws?every=0")
		if err := ws.Send(2, make([]byte, 70<<10)); err != nil {
			t.Fatal(err)
		}
		code, reason, err := ws.Closed(10 * time.Second)
		if err != nil || code != 1009 {
			t.Fatalf("close %d %q, %v; want 1009", code, reason, err)
		}
	})

	t.Run("the fifth message is past the window", func(t *testing.T) {
		revoked := "opaque-" + randomString()
		g.revoke(t, revoked)
		ws := openWS(t, g.addr, "/ws?every=0")
		for i, m := range []string{"one", "two", "three", "four", "Bearer " + revoked} {
			if err := ws.Send(1, []byte(m)); err != nil {
				t.Fatal(err)
			}
			if op, p, err := ws.Next(10 * time.Second); err != nil || op != 1 || string(p) != m {
				t.Fatalf("message %d: echo opcode %d %q, %v; want %q", i+1, op, p, err, m)
			}
		}
	})
}

// TestWebSocketFirstMessagesOff: with first_messages off the messages
// pass unread (the documented way out for clients whose first messages
// are large).
func TestWebSocketFirstMessagesOff(t *testing.T) {
	g := startWSGateway(t, "live_connections {\n\t\t\tfirst_messages off\n\t\t}")
	revoked := "opaque-" + randomString()
	g.revoke(t, revoked)
	acked(t, graphqlInit(t, g, revoked), "connection_init with first_messages off")
}

// TestWebSocketFirstMessagesHTTP2: a WebSocket opened with an extended
// CONNECT over HTTP/2 (RFC 8441; Caddy's proxy turns it into an HTTP/1.1
// upgrade to the upstream) has its first messages checked too: the
// client's frames are the request body. A revoked token resets the
// stream (no close frame on this path) and the upstream never reads it.
// Go's HTTP/2 server offers extended CONNECT with GODEBUG=http2xconnect=1
// (HTTP/3's offers it always).
func TestWebSocketFirstMessagesHTTP2(t *testing.T) {
	up := startLiveUpstream(t)
	c := startCaddyWith(t, CaddyOptions{Env: []string{"GODEBUG=http2xconnect=1"}}, `{
	servers {
		protocols h1 h2c
	}
}
http:// {
	token_revocation {
		revoke /revoke
	}
	reverse_proxy %s
}`, up)
	g := &wsGateway{caddy: c, upstream: up}
	// x/net's client: net/http's refuses the :protocol pseudo-header.
	//lint:ignore SA1019 net/http's Transport cannot send an extended CONNECT
	tr := &http2.Transport{AllowHTTP: true, DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
		return new(net.Dialer).DialContext(ctx, network, addr)
	}}
	t.Cleanup(tr.CloseIdleConnections) //lint:ignore SA1019 see tr
	// open sends connection_init with tok on a new stream and returns
	// the first frame the server sends, or the read error.
	open := func(tok string) (op byte, payload []byte, err error) {
		pr, pw := io.Pipe()
		t.Cleanup(func() { pw.Close() })
		req, _ := http.NewRequest(http.MethodConnect, c.URL("/graphql"), pr)
		req.Header.Set(":protocol", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Protocol", "graphql-transport-ws")
		// No Content-Type: a CONNECT's stream is never read as a body
		// (token.BodyKindOf).
		res, err := tr.RoundTrip(req) //lint:ignore SA1019 see tr
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { res.Body.Close() })
		if res.ProtoMajor != 2 || res.StatusCode != 200 {
			t.Fatalf("extended CONNECT: %s %d, want HTTP/2 200", res.Proto, res.StatusCode)
		}
		init := `{"type":"connection_init","payload":{"Authorization":"Bearer ` + tok + `"}}`
		if _, err := pw.Write(wstest.Frame(1, []byte(init))); err != nil {
			t.Fatal(err)
		}
		type frame struct {
			op  byte
			p   []byte
			err error
		}
		got := make(chan frame, 1)
		go func() {
			op, p, err := wstest.ReadFrame(bufio.NewReader(res.Body))
			got <- frame{op, p, err}
		}()
		select {
		case f := <-got:
			return f.op, f.p, f.err
		case <-time.After(10 * time.Second):
			t.Fatal("no frame and no reset within 10s")
		}
		return 0, nil, nil
	}
	revoked, valid := "opaque-"+randomString(), "opaque-"+randomString()
	g.revoke(t, revoked)
	if op, p, err := open(revoked); err == nil {
		t.Fatalf("connection_init with the revoked token: opcode %d %q, want the stream reset", op, p)
	}
	if op, p, err := open(valid); err != nil || op != 1 || !strings.Contains(string(p), `"connection_ack"`) {
		t.Fatalf("connection_init with a valid token: opcode %d %q, %v; want connection_ack", op, p, err)
	}
	g.reached(t, valid, revoked)
}

// TestWebSocketFirstMessagesFailMode: when the denylist cannot be read, a
// first message gets what a request gets: with fail closed the close
// frame 1011 (and the upstream never reads it), with fail open it passes.
func TestWebSocketFirstMessagesFailMode(t *testing.T) {
	r := startRedis(t)
	up := startLiveUpstream(t)
	c := startCaddy(t, failModesCaddyfile, r.Addr, up, r.Addr, up)
	u, _ := url.Parse(c.URL("/"))
	g := &wsGateway{caddy: c, addr: u.Host, upstream: up}
	r.Stop()
	waitStatus(t, 10*time.Second, http.StatusServiceUnavailable, func() Response { return get(t, c.URL("/api"), "Authorization: Bearer probe") })

	closed, open := "opaque-"+randomString(), "opaque-"+randomString()
	ws := graphqlInit(t, g, closed)
	code, reason, err := ws.Closed(10 * time.Second)
	if err != nil || code != 1011 || reason != "denylist unavailable" {
		t.Errorf("fail closed: close %d %q, %v; want 1011 \"denylist unavailable\"", code, reason, err)
	}
	ows := openWS(t, g.addr, "/open/graphql", "Sec-WebSocket-Protocol: graphql-transport-ws")
	if err := ows.Send(1, []byte(`{"type":"connection_init","payload":{"token":"`+open+`"}}`)); err != nil {
		t.Fatal(err)
	}
	acked(t, ows, "fail open")
	g.reached(t, open, closed)
}
