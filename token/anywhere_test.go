package token

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// candidatesOf lists what Candidates hands out for r.
func candidatesOf(r *http.Request, body string) map[string]string {
	out := map[string]string{}
	for _, c := range Candidates(r, []byte(body), nil) {
		out[c.S] = c.Where.String()
	}
	return out
}

// TestCandidatesFindEveryWrapping: a token is found wherever a framework
// could read it, in every spelling the families list, and in the
// spellings a primary-level comparison takes for it (its skeleton).
func TestCandidatesFindEveryWrapping(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r" // opaque, 32 bytes
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
	b64 := base64.StdEncoding.EncodeToString([]byte("user:" + tok))
	k8s := "base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(tok))
	spelled := "Ｙz7kQp2rVt9\u200bwXb4nLm8sDf6gHj3kPq1ŕ"
	cases := []struct {
		name, target string
		header       http.Header
		body, want   string
	}{
		{"query", "/a?x=" + tok, nil, "", tok},
		{"query, fragment", "/a?access_token=" + tok + "#", nil, "", tok},
		{"query, percent-encoded", "/a?x=" + url.QueryEscape(tok[:8]) + "%" + "41" + tok[9:], nil, "", tok[:8] + "A" + tok[9:]},
		{"any header", "/", http.Header{"X-Whatever": {"v=" + tok + ";"}}, "", tok},
		{"JSON cookie", "/", http.Header{"Cookie": {`c=j:"` + tok + `"`}}, "", tok},
		{"JSON cookie, percent-encoded", "/", http.Header{"Cookie": {"c=j%3A%22" + tok + "%22"}}, "", tok},
		{"signed cookie", "/", http.Header{"Cookie": {"c=s:" + tok + ".Hmac0123456789abcdefghijklmnopq"}}, "", tok},
		{"signed cookie, encoded", "/", http.Header{"Cookie": {"c=s%3A" + tok + ".Hmac0123456789abcdefghijklmnopq"}}, "", tok},
		{"Basic password", "/", http.Header{"Authorization": {"Basic " + b64}}, "", tok},
		{"k8s subprotocol", "/", http.Header{"Sec-Websocket-Protocol": {k8s + ", base64.binary.k8s.io"}}, "", tok},
		{"sanctum", "/", http.Header{"Authorization": {"Bearer 005|" + tok}}, "", tok},
		{"JSON body, escaped", "/", nil, `{"acceſſ_token":"\u0059` + tok[1:] + `"}`, tok},
		{"form body, encoded", "/", nil, "a=1&t=" + url.QueryEscape(tok), tok},
		{"multipart, base64 part", "/", http.Header{"Content-Type": {"multipart/form-data; boundary=b"}},
			"--b\r\nContent-Disposition: form-data; name=\"x\"\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
				base64.StdEncoding.EncodeToString([]byte(tok)) + "\r\n--b--\r\n", tok},
		{"multipart, quoted-printable soft break", "/", http.Header{"Content-Type": {"multipart/form-data; boundary=b"}},
			"--b\r\nContent-Disposition: form-data; name=\"x\"\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
				tok[:10] + "=\r\n" + tok[10:] + "\r\n--b--\r\n", tok},
		{"JWT, trailing dots", "/a?access_token=" + jwt + "..", nil, "", jwt},
		{"JWT, leading dot", "/", http.Header{"Authorization": {"Bearer ." + jwt}}, "", jwt},
		{"JWT in a signed cookie", "/", http.Header{"Cookie": {"c=s:" + jwt + ".hmac"}}, "", jwt},
		{"JWT, shortest", "/", http.Header{"X": {"eyJhbGciOiJub25lIn0.e30."}}, "", "eyJhbGciOiJub25lIn0.e30."}, // {"alg":"none"}.{}.
		// Spellings a primary-level comparison takes for the token
		// (Skeleton): a fullwidth Y, a zero-width space, an accented r.
		{"spelled, header", "/", http.Header{"Authorization": {"Bearer " + spelled}}, "", tok},
		{"spelled, query", "/a?api_token=" + url.QueryEscape(spelled), nil, "", tok},
		{"spelled, a control byte", "/a?api_token=" + tok[:5] + "%01" + tok[5:], nil, "", tok},
		{"spelled, percent-encoded twice", "/a?t=" + url.QueryEscape(url.QueryEscape(spelled)), nil, "", tok},
		{"spelled, JSON body, escaped", "/", nil, `{"api_token":"\uff39` + tok[1:5] + `\u00ad` + tok[5:] + `"}`, tok},
		{"spelled, form body", "/", nil, "api_token=" + url.QueryEscape(spelled), tok},
		{"spelled, ISO-8859-1 body", "/", nil, "t=\xdd" + tok[1:], tok}, // "Ý"
		// A binary serialization's framing byte next to a string, a
		// token byte: a length ('Z' is 90 in gob), a tag and a length
		// in protobuf (field 8's 'B', 65's 'A').
		{"gob length byte, base64", "/", http.Header{"Cookie": {"s=" + base64.StdEncoding.EncodeToString([]byte("\x0c\x00Z"+tok+"\x06string"))}}, "", tok},
		{"protobuf, tag and length", "/", http.Header{"Content-Type": {"application/x-protobuf"}}, "\x0a\x03abcBA" + tok + tok + "a", tok + tok + "a"},
	}
	for _, c := range cases {
		r, _ := http.NewRequest("GET", "http://h/", nil)
		r.RequestURI = c.target
		if c.header != nil {
			r.Header = c.header
		}
		got := candidatesOf(r, c.body)
		if _, ok := got[c.want]; !ok {
			t.Errorf("%s: %q not among the candidates %q", c.name, c.want, keys(got))
		}
	}
}

// TestCandidatesSkipShortWords: words shorter than MinCandidateLength are
// not handed out (they are checked only in the named channels).
func TestCandidatesSkipShortWords(t *testing.T) {
	r, _ := http.NewRequest("GET", "http://h/", nil)
	r.RequestURI = "/api/v1/items?page=2&sort=name"
	r.Header = http.Header{
		"User-Agent":      {"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"},
		"Accept-Language": {"en-US,en;q=0.9"},
	}
	for s := range candidatesOf(r, "") {
		if len(s) < MinCandidateLength {
			t.Errorf("a %d-byte word handed out: %q", len(s), s)
		}
	}
}

func keys(m map[string]string) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// FuzzCandidatesFindAnInsertedToken: a token put anywhere in a header
// value, between any two non-token bytes, is found.
func FuzzCandidatesFindAnInsertedToken(f *testing.F) {
	f.Add("prefix ", " suffix")
	f.Add("j:\"", "\"")
	f.Add("s:", ".sig")
	f.Add("005|", "")
	f.Fuzz(func(t *testing.T, before, after string) {
		const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
		if len(before) > 0 && isTokenByte(before[len(before)-1]) && !isPartSeparator(before[len(before)-1]) {
			return // the token would be part of a longer word
		}
		if len(after) > 0 && isTokenByte(after[0]) && !isPartSeparator(after[0]) {
			return
		}
		if strings.ContainsAny(before+after, "%\\+") {
			return // decodings may join bytes to the token
		}
		r, _ := http.NewRequest("GET", "http://h/", nil)
		r.Header = http.Header{"X": {before + tok + after}}
		if _, ok := candidatesOf(r, "")[tok]; !ok {
			t.Errorf("%q not found in %q", tok, before+tok+after)
		}
	})
}

// BenchmarkCandidatesBrowser: the scan of a browser's request to an API
// (ten headers, a 300-byte cookie), no token.
func BenchmarkCandidatesBrowser(b *testing.B) {
	r, _ := http.NewRequest("GET", "http://api.example.com/api/v2/projects/42/items?page=2&sort=updated_at", nil)
	r.RequestURI = "/api/v2/projects/42/items?page=2&sort=updated_at"
	for k, v := range map[string]string{
		"User-Agent":      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
		"Accept":          "application/json, text/plain, */*",
		"Accept-Language": "en-US,en;q=0.9,de;q=0.8",
		"Accept-Encoding": "gzip, deflate, br, zstd",
		"Referer":         "https://app.example.com/dashboard/projects/42?tab=settings",
		"Origin":          "https://app.example.com",
		"Sec-Fetch-Mode":  "cors",
		"Sec-Fetch-Site":  "same-site",
		"Cookie": "_ga=GA1.2.1234567890.1701234567; _gid=GA1.2.987654321.1701234567; theme=dark; " +
			"locale=en-US; _hjSessionUser_123456=eyJpZCI6ImFiY2RlZiIsImNyZWF0ZWQiOjE3MDEyMzQ1Njd9; " +
			"csrftoken=Zx8Qm3Lp0Vb7Nc2Kd9Rf4Tg6Hj1Wy5Ue; consent=necessary%2Canalytics; " +
			"ajs_anonymous_id=%22b2f7c9e4-1a3d-4e5f-8a9b-0c1d2e3f4a5b%22; sidebar=collapsed",
	} {
		r.Header.Set(k, v)
	}
	var buf [32]Candidate
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(Candidates(r, nil, buf[:0]))
	}
	b.ReportMetric(float64(n), "candidates")
}

// TestGzippedBinaryBodyIsDecoded: a body of a binary type sent with a
// Content-Encoding is read whole and decoded (body-parser inflates it for
// an express.json({type: "*/*"}) that then reads the token).
func TestGzippedBinaryBodyIsDecoded(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write([]byte(`{"access_token":"` + tok + `"}`))
	zw.Close()
	r, _ := http.NewRequest("POST", "http://h/api", bytes.NewReader(zb.Bytes()))
	r.RequestURI = "/api"
	r.Header.Set("Content-Type", "application/octet-stream")
	r.Header.Set("Content-Encoding", "gzip")
	s := Sources{MaxBodySize: 1 << 16}
	_, body, err := s.ExtractBody(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range Candidates(r, body, nil) {
		found = found || c.S == tok
	}
	if !found {
		t.Errorf("the token in a gzipped octet-stream JSON body was not found")
	}
}

// BenchmarkCandidatesJSON64K: the scan of a 64 KiB JSON body of records
// (the body's part of BenchmarkCheckJSONBody64K).
func BenchmarkCandidatesJSON64K(b *testing.B) {
	body := jsonRecords64K()
	r, _ := http.NewRequest("POST", "http://h/api/items", nil)
	r.Header.Set("Content-Type", "application/json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n = len(TargetAndBodyCandidates(r, body, nil, nil))
	}
	b.ReportMetric(float64(n), "candidates")
}

// TestJSONUnescapeJoinsWhatDecodersJoin: a surrogate pair is one
// character (PHP's json_decode, JSON.parse), whose skeleton a collation
// takes for ASCII ("\ud835\udc1e" is "𝐞", an "e"); YAML's \x and \U
// escapes are decoded too.
func TestJSONUnescapeJoinsWhatDecodersJoin(t *testing.T) {
	for in, want := range map[string]string{
		`R\ud835\udc1evoked`:  "R\U0001D41Evoked",
		`\x72ev\U0000006fked`: "revoked",
		`a\ud835b`:            "a\ufffdb", // a lone surrogate
		`\x7`:                 `\x7`,
	} {
		if got := jsonUnescape(in); got != want {
			t.Errorf("jsonUnescape(%q) = %q, want %q", in, got, want)
		}
	}
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	r, _ := http.NewRequest("POST", "http://h/", nil)
	r.RequestURI = "/"
	r.Header = http.Header{"Content-Type": {"application/json"}}
	body := `{"api_token":"Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"}`
	body = strings.Replace(body, "Q", `\ud835\udc10`, 1) // MATHEMATICAL BOLD CAPITAL Q
	got := candidatesOf(r, body)
	if _, ok := got[tok]; !ok {
		t.Errorf("%s: the token is not among the candidates %q", body, keys(got))
	}
}

// TestFramedRunsInBinaryTexts: a string a binary serialization writes has
// its length byte before it, or an opcode after it, which may be a token
// byte; in a text with control characters or bytes outside ASCII, a run
// is handed out without its first and last bytes too. In plain text it is
// not.
func TestFramedRunsInBinaryTexts(t *testing.T) {
	const tok = "revoked0123456789abcdef0123456789abcdef0123456789abcdef012345678" // 64 bytes
	b64 := base64.StdEncoding.EncodeToString
	for name, c := range map[string]struct {
		header string
		want   bool
	}{
		// Ruby's Marshal, base64 (Rack::Session::Cookie): 64+5 is 'E'.
		"marshal": {"rack.session=" + b64([]byte("\x04\x08{\x06I\"\x11access_token\x06:\x06ETI\"E"+tok+"\x06;\x00T")), true},
		// pickle protocol 2's BINUNICODE: a 4-byte length before, BINPUT
		// ('q', a memo index) after.
		"pickle-binput": {"s=" + b64([]byte("\x00\x00X\x40\x00\x00\x00"+tok+"q\x07X\x0e\x00\x00\x00_creation_time")), true},
		// Both: a length byte before, an opcode after.
		"both": {"s=" + b64([]byte("\x01\x02E"+tok+"q\x07")), true},
		// Plain text: a longer word is not the token.
		"text": {"s=E" + tok + "q", false},
	} {
		r, _ := http.NewRequest("GET", "http://h/", nil)
		r.Header.Set("Cookie", c.header)
		found := false
		for _, cand := range Candidates(r, nil, nil) {
			found = found || cand.S == tok
		}
		if found != c.want {
			t.Errorf("%s: the token found %v, want %v", name, found, c.want)
		}
	}
}
