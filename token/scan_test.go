package token

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// parseReference is Parse with encoding/json only. Parse must agree with
// it on every input. A claim of another type is left empty (as
// json.Unmarshal leaves it); the token stays a JWT, marked LegacyOpaque.
func parseReference(raw string) Token {
	t := parseJWSReference(raw)
	if t.JWT || strings.Count(raw, ".") < 2 {
		return t
	}
	// A JWT inside raw: the first window of three '.'-separated segments,
	// starting at a segment, of at least MinJWTLength bytes, that is one
	// (segments end at . : | / +).
	isSep := func(c byte) bool { return strings.IndexByte(".:|/+", c) >= 0 }
	segEnd := func(i int) int {
		for i < len(raw) && !isSep(raw[i]) {
			i++
		}
		return i
	}
	for a := 0; a < len(raw); {
		b := segEnd(a)
		if b < len(raw) && raw[b] == '.' {
			if c := segEnd(b + 1); c < len(raw) && raw[c] == '.' {
				if w := raw[a:segEnd(c+1)]; w != raw && len(w) >= MinJWTLength {
					if j := parseJWSReference(w); j.JWT {
						return j
					}
				}
			}
		}
		a = b + 1
	}
	return t
}

// parseJWSReference is parseReference for raw as it is.
func parseJWSReference(raw string) Token {
	t := Token{Raw: raw}
	h, p, ok := splitJWS(raw)
	if !ok {
		return t
	}
	header, err := decodeSegment(h)
	if err != nil || !isJSONObjectReference(header) {
		return t
	}
	payload, err := decodeSegment(p)
	if err != nil || !isJSONObjectReference(payload) {
		return t
	}
	var c Claims
	err = json.Unmarshal(payload, &c)
	var typeErr *json.UnmarshalTypeError
	if err != nil && !errors.As(err, &typeErr) {
		return t
	}
	t.JWT, t.Header, t.Payload, t.Claims = true, header, payload, c
	t.LegacyOpaque = err != nil || audienceWasOdd(payload)
	return t
}

// decodeSegment decodes base64url with or without padding, as Parse did
// before it decoded into one buffer.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

func isJSONObjectReference(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}' && json.Valid(b)
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// payloadSeeds are JWT payloads chosen to reach every branch of the
// scanner: types, nulls, duplicates, escapes, case folding, nesting.
var payloadSeeds = []string{
	`{"exp":1700003600,"iat":1700000000,"jti":"j-1","iss":"https://idp/realms/demo","aud":"account","sub":"u-1","typ":"Bearer","sid":"s-1"}`,
	`{"aud":["a","b",null],"nbf":-5,"exp":1.7e9,"iat":12.9}`,
	`{"aud":[]}`, `{"aud":null}`, `{"aud":"x","aud":null}`, `{"aud":[1]}`, `{"aud":true}`, `{"aud":{"a":1}}`,
	`{"sub":123}`, `{"sub":null}`, `{"sub":"a","sub":null}`, `{"sub":"a","sub":"b"}`, `{"sub":["a"]}`,
	`{"SUB":"a"}`, `{"Sub":"a","sub":"b"}`, `{"s\u0075b":"a"}`, `{"ſub":"a"}`, `{"ISS":"x"}`,
	`{"sub":"caf\u00e9"}`, `{"sub":"café"}`, `{"sub":"\xff\xfe"}`, `{"iss":"https:\/\/idp"}`,
	`{"exp":"1700000000"}`, `{"exp":null}`, `{"exp":1e400}`, `{"exp":-1e400}`, `{"exp":1e-400}`, `{"exp":9223372036854775807}`,
	`{"exp":123456789012345678901234567890}`, `{"exp":-0}`, `{"exp":0.5}`, `{"exp":{"x":[1,2]}}`, `{"exp":[1]}`,
	`{"exp":01}`, `{"exp":1.}`, `{"exp":.5}`, `{"exp":1e}`, `{"exp":+1}`, `{"exp":-}`,
	`{"a":{"b":{"c":[1,2,{"d":null}]}},"e":[true,false,null],"f":"\"\\\/\b\f\n\r\t\uD834\uDD1E"}`,
	` { "sub" : "x" } `, "\t{\n}\r\n", `{}`, `[]`, `"x"`, `1`, `null`, `{`, `}`, `{"a"}`, `{"a":}`, `{"a":1,}`,
	`{,"a":1}`, `{"a":1 "b":2}`, `{"a":"\x01"}`, `{"a":"\u12"}`, `{"a":"\q"}`, `{"a":tru}`, `{"a":nul}`, `{"a":1}x`,
	"\u00a0{\"sub\":\"x\"}", `{"sub":"x"}` + "\u00a0", `{"jti":"a","typ":"Refresh","sid":""}`,
	`{"client_id":"app","azp":"web"}`, `{"CLIENT_ID":"a","client_id":"b"}`, `{"client_Id":"a"}`, `{"client_id":7}`, `{"client_id":null}`,
	`{"clientXid":"a"}`,
	`{"cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`, `{"cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}`,
	`{"cnf":{"jkt":"a","x5t#S256":"b","kid":"c","jwk":{"kty":"EC"}}}`, `{"cnf":{"jkt":"a"},"cnf":{"x5t#S256":"b"}}`,
	`{"cnf":{"jkt":"a"},"cnf":{}}`, `{"cnf":{"jkt":"a"},"cnf":null}`, `{"cnf":{"jkt":"a"},"cnf":"x"}`, `{"cnf":{"jkt":"a","jkt":null}}`,
	`{"cnf":{"jkt":"a","jkt":"b"}}`, `{"cnf":{"jkt":7,"x5t#S256":"b"}}`, `{"cnf":{"jkt":["a"]}}`, `{"cnf":[{"jkt":"a"}]}`, `{"cnf":1}`,
	`{"CNF":{"jkt":"a"}}`, `{"Cnf":{"jkt":"a"},"cnf":{"jkt":"b"}}`, `{"cnf":{"JKT":"a"}}`, `{"cnf":{"X5T#s256":"a"}}`,
	`{"cnf":{"j\u006bt":"a"}}`, `{"cnf":{"jkt":"a\u0062"}}`, `{"cnf":{"Kkt":"a"}}`, `{"c\u006ef":{"jkt":"a"}}`,
	`{"cnf":{"jkt":"a",}}`, `{"cnf":{"jkt"}}`, `{"cnf":{"jkt":"a"}`, "{\"cnf\":{\"x5t#S256\":\"\xff\"}}", `{"cnf":{"jkt":"\u00e9"},"sub":1}`,
}

// deepSeeds sit on encoding/json's nesting limit. Too large to be good
// fuzz seeds, they are checked by TestParseAgreesWithReferenceOnSeeds.
var deepSeeds = []string{
	strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000),
	strings.Repeat(`[`, 10001) + strings.Repeat(`]`, 10001),
	`{"a":` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `}`,
	`{"a":` + strings.Repeat(`[`, 10000) + strings.Repeat(`]`, 10000) + `}`,
	`{"aud":[` + strings.Repeat(`[`, 9998) + strings.Repeat(`]`, 9998) + `]}`,
	`{"aud":[` + strings.Repeat(`[`, 9999) + strings.Repeat(`]`, 9999) + `]}`,
}

func FuzzParse(f *testing.F) {
	header := b64(`{"alg":"RS256","typ":"JWT","kid":"k1"}`)
	for _, p := range payloadSeeds {
		f.Add(header + "." + b64(p) + ".c2ln")
	}
	f.Add("opaque-token")
	f.Add("a.b.c")
	f.Add(b64(` {"alg":"none"} `) + "." + b64(`{}`) + ".")
	f.Add(b64("\u00a0{}") + "." + b64(`{}`) + ".x")
	f.Add(header + "=." + b64(`{"sub":"x"}`) + "==.sig")
	f.Add("0+eyJ00CI6Im00In0.eyJ0000iOltdfX.") // a JWT inside: found by CI's fuzz step
	f.Add("s:" + header + "." + b64(`{"sub":"x"}`) + ".sig.hmac")
	f.Fuzz(func(t *testing.T, raw string) {
		got, want := Parse(raw), parseReference(raw)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("Parse(%q):\n got %+v\nwant %+v", raw, got, want)
		}
		checkParseInto(t, raw, want)
	})
}

// checkParseInto checks that ParseInto reads raw as parseReference does
// (but for the audience, which it does not keep), into a buffer that fits
// and into one too small.
func checkParseInto(t *testing.T, raw string, want Token) {
	t.Helper()
	want.Claims.Audience = nil
	for _, buf := range [][]byte{make([]byte, 4096), make([]byte, 3)} {
		got := ParseInto(raw, buf)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("ParseInto(%q) into %d bytes:\n got %+v\nwant %+v", raw, len(buf), got, want)
		}
	}
}

// FuzzParsePayload fuzzes the payload alone, so the fuzzer works on JSON
// rather than on base64.
func FuzzParsePayload(f *testing.F) {
	for _, p := range payloadSeeds {
		f.Add(p)
	}
	header := b64(`{"alg":"HS256"}`)
	f.Fuzz(func(t *testing.T, payload string) {
		raw := header + "." + b64(payload) + ".sig"
		got, want := Parse(raw), parseReference(raw)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("payload %q:\n got %+v\nwant %+v", payload, got, want)
		}
		checkParseInto(t, raw, want)
	})
}

func FuzzValidJSON(f *testing.F) {
	for _, p := range payloadSeeds {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validJSON([]byte(s)), json.Valid([]byte(s)); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", s, got, want)
		}
	})
}

// TestParseIntoAllocatesNothing: a JWT that fits the buffer is parsed,
// claims and all, without allocating (the request check parses every JWT
// it has not seen lately), and its claims live in the buffer.
func TestParseIntoAllocatesNothing(t *testing.T) {
	raw := b64(`{"alg":"RS256","kid":"k1"}`) + "." + b64(payloadSeeds[0]) + ".c2ln"
	buf := make([]byte, 1024)
	var tok Token
	if n := testing.AllocsPerRun(100, func() { tok = ParseInto(raw, buf) }); n != 0 {
		t.Fatalf("ParseInto allocated %v times per call, want 0", n)
	}
	if !tok.JWT || tok.Claims.Subject != "u-1" || tok.Claims.Audience != nil {
		t.Fatalf("ParseInto read %+v", tok)
	}
	copy(buf, bytes.Repeat([]byte{'x'}, len(buf)))
	if tok.Claims.Subject == "u-1" {
		t.Fatal("the claims do not live in the buffer: ParseInto copied them")
	}
}

func TestParseReadsClaimsWithoutEncodingJSON(t *testing.T) {
	payload := `{"exp":1700003600,"iat":1700000000,"nbf":1699999999,"jti":"j-1","iss":"https://idp","aud":["a","b"],"sub":"u-1","typ":"Bearer","sid":"s-1","extra":{"x":[1,"y",null]}}`
	var c Claims
	if r := scanClaims([]byte(payload), &c, true); r != scanOK {
		t.Fatalf("scanClaims = %v, want scanOK", r)
	}
	want := Claims{Issuer: "https://idp", Subject: "u-1", SessionID: "s-1", ID: "j-1", Type: "Bearer",
		Audience: Audience{"a", "b"}, IssuedAt: 1700000000, Expiry: 1700003600, NotBefore: 1699999999}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("claims %+v, want %+v", c, want)
	}
}

func TestParseJWTAllocations(t *testing.T) {
	raw := b64(`{"alg":"RS256"}`) + "." + b64(payloadSeeds[0]) + ".sig"
	// The decoded header and payload, one string holding the claims, the
	// audience.
	if n := testing.AllocsPerRun(100, func() { Parse(raw) }); n > 4 {
		t.Fatalf("Parse of a JWT allocates %v times, want at most 4", n)
	}
	if n := testing.AllocsPerRun(100, func() { Parse("opaque-token-value") }); n != 0 {
		t.Fatalf("Parse of an opaque token allocates %v times, want 0", n)
	}
}

func TestParseAgreesWithReferenceOnSeeds(t *testing.T) {
	header := b64(`{"alg":"RS256"}`)
	for _, p := range append(payloadSeeds, deepSeeds...) {
		raw := header + "." + b64(p) + ".sig"
		if got, want := Parse(raw), parseReference(raw); !reflect.DeepEqual(got, want) {
			t.Errorf("payload %q:\n got %+v\nwant %+v", p, got, want)
		}
		if got, want := validJSON([]byte(p)), json.Valid([]byte(p)); got != want {
			t.Errorf("validJSON(%q) = %v, json.Valid %v", p, got, want)
		}
	}
}

// TestParseReadsConfirmation: the cnf claim of a DPoP-bound (jkt) or an
// mTLS-bound (x5t#S256) token is read on the scanner's fast path, as
// encoding/json reads it, and an odd cnf makes no claim unreadable and
// the token not LegacyOpaque.
func TestParseReadsConfirmation(t *testing.T) {
	header := b64(`{"alg":"ES256","typ":"at+jwt"}`)
	for _, tc := range []struct {
		payload string
		want    Confirmation
		fast    bool // read without encoding/json
	}{
		{`{"sub":"u","cnf":{"jkt":"0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}}`, Confirmation{JKT: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}, true},
		{`{"sub":"u","cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}}`, Confirmation{X5TS256: "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}, true},
		{`{"sub":"u","cnf":{"jkt":"a"},"cnf":{"x5t#S256":"b"}}`, Confirmation{JKT: "a", X5TS256: "b"}, true},
		{`{"sub":"u","cnf":{"jkt":"a"},"cnf":"x"}`, Confirmation{JKT: "a"}, true},
		{`{"sub":"u","cnf":{"jkt":7,"x5t#S256":"b"}}`, Confirmation{X5TS256: "b"}, true},
		{`{"sub":"u","cnf":{"jkt":"a","jwk":{"kty":"EC","crv":"P-256"}}}`, Confirmation{JKT: "a"}, true},
		{`{"sub":"u","cnf":{"JKT":"a"}}`, Confirmation{JKT: "a"}, false},
		{`{"sub":"u","CNF":{"jkt":"a"}}`, Confirmation{JKT: "a"}, false},
		{`{"sub":"u","cnf":{"j\u006bt":"a"}}`, Confirmation{JKT: "a"}, false},
	} {
		var c Claims
		if r := scanClaims([]byte(tc.payload), &c, false); (r == scanOK) != tc.fast {
			t.Errorf("%s: scanClaims = %v, want fast %v", tc.payload, r, tc.fast)
		}
		tok := Parse(header + "." + b64(tc.payload) + ".sig")
		if !tok.JWT || tok.Claims.Confirmation != tc.want || tok.Claims.Subject != "u" || tok.LegacyOpaque {
			t.Errorf("%s: JWT %v cnf %+v sub %q LegacyOpaque %v; want cnf %+v, sub u, not LegacyOpaque",
				tc.payload, tok.JWT, tok.Claims.Confirmation, tok.Claims.Subject, tok.LegacyOpaque, tc.want)
		}
	}
}
