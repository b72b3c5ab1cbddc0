package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// h2cSettings is the HTTP2-Settings header value curl sends: base64url of
// a SETTINGS payload (MAX_CONCURRENT_STREAMS 100, INITIAL_WINDOW_SIZE
// 2^30, ENABLE_PUSH 0).
const h2cSettings = "AAMAAABkAARAAAAAAAIAAAAA"

// h2cUpgrade is an HTTP/1.1 GET of target asking to upgrade to h2c (no
// body: Hypercorn upgrades only a request without one), with extra header
// lines.
func h2cUpgrade(target string, lines ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: %s\r\n", target, h2cSettings)
	for _, l := range lines {
		b.WriteString(l + "\r\n")
	}
	b.WriteString("\r\n")
	return b.Bytes()
}

// h2cExchange sends upgrade (an HTTP/1.1 request asking `Upgrade: h2c`)
// to addr. When it is answered 101, it speaks HTTP/2 on the connection:
// the client preface, then one request on stream 3 (GET path with the
// header fields fields, name and value pairs), and reads the answers to
// stream 1 (the upgraded request) and stream 3. It returns the HTTP/1.1
// status and the oracle answers of both streams merged (tokens of either).
// A status other than 101 is returned with that answer's body decoded.
func h2cExchange(addr string, upgrade []byte, path string, fields ...string) (int, oracleAnswer, error) {
	var ans oracleAnswer
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return 0, ans, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(httpTimeout))
	if _, err := conn.Write(upgrade); err != nil {
		return 0, ans, err
	}
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		return 0, ans, err
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if json.Unmarshal(body, &ans) != nil {
			ans = oracleAnswer{}
		}
		return res.StatusCode, ans, nil
	}

	if _, err := io.WriteString(conn, http2.ClientPreface); err != nil {
		return res.StatusCode, ans, err
	}
	fr := http2.NewFramer(conn, br)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	if err := fr.WriteSettings(); err != nil {
		return res.StatusCode, ans, err
	}
	var hb bytes.Buffer
	enc := hpack.NewEncoder(&hb)
	for _, f := range []hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"},
		{Name: ":authority", Value: "127.0.0.1"}, {Name: ":path", Value: path}} {
		_ = enc.WriteField(f)
	}
	for i := 0; i+1 < len(fields); i += 2 {
		_ = enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	if err := fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: hb.Bytes(), EndStream: true, EndHeaders: true}); err != nil {
		return res.StatusCode, ans, err
	}
	bodies := map[uint32]*bytes.Buffer{1: {}, 3: {}}
	ended := map[uint32]bool{}
	for !(ended[1] && ended[3]) {
		f, err := fr.ReadFrame()
		if err != nil {
			return res.StatusCode, ans, fmt.Errorf("reading HTTP/2 frames (streams ended: %v): %w", ended, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = fr.WriteSettingsAck()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				_ = fr.WritePing(true, f.Data)
			}
		case *http2.MetaHeadersFrame:
			if f.StreamEnded() {
				ended[f.StreamID] = true
			}
		case *http2.DataFrame:
			if b := bodies[f.StreamID]; b != nil {
				b.Write(f.Data())
			}
			if f.StreamEnded() {
				ended[f.StreamID] = true
			}
		case *http2.RSTStreamFrame:
			ended[f.StreamID] = true
		case *http2.GoAwayFrame:
			return res.StatusCode, ans, fmt.Errorf("GOAWAY %v (streams ended: %v)", f.ErrCode, ended)
		}
	}
	for _, id := range []uint32{1, 3} {
		var a oracleAnswer
		if err := json.Unmarshal(bodies[id].Bytes(), &a); err != nil {
			return res.StatusCode, ans, fmt.Errorf("stream %d: not an oracle answer: %q", id, bodies[id].String())
		}
		ans.Oracle, ans.Path = a.Oracle, a.Path
		ans.Tokens = append(ans.Tokens, a.Tokens...)
		ans.Errors = append(ans.Errors, a.Errors...)
	}
	return res.StatusCode, ans, nil
}

// statusText is a status for a report: "101" or "200 (oracle)".
func statusText(status int, ans oracleAnswer) string {
	s := strconv.Itoa(status)
	if ans.Oracle != "" {
		s += " (" + ans.Oracle + ")"
	}
	return s
}
