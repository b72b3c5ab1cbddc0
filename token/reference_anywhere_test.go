package token

import (
	"net/http"
	"strings"
	"testing"
)

// The scan of a request as it was first written (issue 22), kept as the
// reference the fast scan (anywhere.go) is fuzzed against: what it hands
// out, the fast one hands out, and nothing else
// (FuzzCandidatesEqualReference).

// refAppendRuns appends every maximal run of token bytes in s, and its parts
// (refAppendRun). It looks for wide runs (token bytes, '=' padding and the
// escape bytes '%' and '\\'): one without escapes is a run; one with them
// is decoded as frameworks decode it (percent, with and without '+' as a
// space; JSON and Python backslash escapes) and what it decodes to is
// scanned again (up to maxDecodeDepth times), and so is what a base64
// part decodes to (up to maxBase64Depth layers); a text with characters
// outside ASCII or control characters as its skeleton too. Only runs that could hand
// out a candidate are looked at: most words of a request are shorter. (A
// queue, not recursion: dst then stays on the caller's stack.)
func refAppendRuns(dst []Candidate, s string, w Where, depth int) []Candidate {
	type text struct {
		s        string
		depth    int
		skeleton bool
		base64   uint8 // base64 layers, counted apart from depth
		framed   bool  // a skeleton's text had characters outside ASCII or control characters
	}
	var stack [4]text
	queue := append(stack[:0], text{s, depth, false, 0, false})
	budget, cut := inflateBudget(len(s)), false
	for len(queue) > 0 {
		t := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		s := t.s
		// queueDecoded queues what base64 decoded to, and each of those
		// texts that is a protobuf message as its text too; cut marks
		// the request unreadable (once).
		queueDecoded := func(texts []string, c bool) {
			for _, d := range texts {
				queue = append(queue, text{d, t.depth, false, t.base64 + 1, false})
				if p, ok := protobufMessageText(d); ok {
					queue = append(queue, text{p, t.depth, false, t.base64 + 1, true})
				}
			}
			if c && !cut {
				cut = true
				dst = append(dst, Candidate{Where: w, Unreadable: true})
			}
		}
		// A text that may be a binary serialization (bytes outside ASCII
		// or control characters) has its runs read without their first
		// and last bytes too: a length or an opcode.
		framed := t.framed || NeedsSkeleton(s)
		if sk, ok := Skeleton(s); ok && !t.skeleton {
			queue = append(queue, text{sk, t.depth, true, t.base64, true})
		}
		// Base64 in lines, read whole, and what it decodes to as a
		// protobuf message when it is one.
		if t.base64 < maxBase64Depth && strings.ContainsAny(s, "\r\n") {
			queueDecoded(appendLineBase64Texts(nil, s, t.base64 == 0, &budget))
		}
		for i := 0; i < len(s); {
			if refWideClass[s[i]] == 0 {
				i++
				continue
			}
			j, holds := i, uint8(0)
			for j < len(s) {
				c := refWideClass[s[j]]
				if c == 0 {
					break
				}
				holds |= c
				j++
			}
			wide := s[i:j]
			i = j
			if t.base64 < maxBase64Depth {
				queueDecoded(appendBase64Texts(nil, wide, classSeparator, t.base64 == 0, &budget)) // split always: the same parts
			}
			escaped := holds&refClassEscape != 0
			switch {
			case holds == refClassToken: // the common case: one run
				if len(wide) >= MinCandidateLength || len(wide) >= 8 && strings.IndexByte(wide, '.') >= 0 {
					dst = refAppendRun(dst, wide, w)
				}
				if framed && len(wide) > MinCandidateLength {
					dst = refAppendRun(dst, wide[1:], w)
					dst = refAppendRun(dst, wide[:len(wide)-1], w)
					if len(wide) > MinCandidateLength+1 {
						dst = refAppendRun(dst, wide[1:len(wide)-1], w)
					}
				}
				continue
			case !escaped || t.depth >= maxDecodeDepth: // padding, or decoded enough
				dst = refAppendPlainRuns(dst, wide, w)
				continue
			}
			for _, d := range decodings(wide) {
				if d != "" {
					queue = append(queue, text{d, t.depth + 1, false, t.base64, false})
				}
			}
		}
	}
	return dst
}

// refAppendPlainRuns appends the runs of a wide run without escapes (or one
// decoded too often): '=' padding ends a run ("k=v" is two), '%' and '\\'
// end it too.
func refAppendPlainRuns(dst []Candidate, wide string, w Where) []Candidate {
	for i := 0; i < len(wide); {
		if !tokenBytes[wide[i]] {
			i++
			continue
		}
		j := i + 1
		for j < len(wide) && tokenBytes[wide[j]] {
			j++
		}
		for j < len(wide) && wide[j] == '=' {
			j++
		}
		if j-i >= MinCandidateLength || j-i >= 8 && strings.IndexByte(wide[i:j], '.') >= 0 {
			dst = refAppendRun(dst, wide[i:j], w) // a shorter run holds nothing handed out
		}
		i = j
	}
	return dst
}

// refAppendRun appends run, trimmed of separators, its parts, and the JWTs in
// it.
func refAppendRun(dst []Candidate, run string, w Where) []Candidate {
	dst = appendCandidate(dst, run, w, nil)
	t := trimSeparators(run)
	if t != run {
		dst = appendCandidate(dst, t, w, nil)
	}
	seps := 0
	for i := 0; i < len(t); i++ {
		if isPartSeparator(t[i]) {
			seps++
		}
	}
	if seps == 0 {
		if u := strings.TrimRight(t, "="); u != t {
			dst = appendCandidate(dst, u, w, nil)
		}
		return dst
	}
	start := 0
	for i := 0; i <= len(t); i++ {
		if i < len(t) && !isPartSeparator(t[i]) {
			continue
		}
		if part := t[start:i]; part != "" {
			dst = appendCandidate(dst, part, w, nil)
			if u := strings.TrimRight(part, "="); u != part {
				dst = appendCandidate(dst, u, w, nil)
			}
		}
		start = i + 1
	}
	for at := 0; seps >= 2; {
		jwt, next, ok := nextJWT(t, at)
		if !ok {
			break
		}
		dst = append(dst, Candidate{S: jwt, Where: w})
		at = next
	}
	return dst
}

// refWideClass is the reference's classes of bytes: token bytes, '='
// padding, escapes.
var refWideClass = func() (t [256]uint8) {
	for c := range 256 {
		if tokenBytes[c] {
			t[c] = refClassToken
		}
	}
	t['='] = refClassPadding
	t['%'], t['\\'] = refClassEscape, refClassEscape
	return t
}()

const (
	refClassToken   = 1
	refClassPadding = 2
	refClassEscape  = 4
)

// refCandidates is Candidates with the reference scan.
func refCandidates(r *http.Request, body []byte) []Candidate {
	var dst []Candidate
	dst = refAppendRuns(dst, r.RequestURI, Where{Part: "target"}, 0)
	dst = refAppendRuns(dst, r.Host, Where{Part: "header", Name: "Host"}, 0)
	for name, values := range r.Header {
		w := Where{Part: "header", Name: name}
		for _, v := range values {
			dst = refAppendRuns(dst, v, w, 0)
			for _, t := range skippedBase64Texts(v) {
				dst = refAppendRuns(dst, t, w, 0)
			}
			for at := -1; ; {
				text, next, ok := wrapped(v, at)
				if !ok {
					break
				}
				dst = refAppendRuns(dst, text, w, 0)
				at = next
			}
		}
	}
	if len(body) > 0 {
		w := Where{Part: "body"}
		dst = refAppendRuns(dst, string(body), w, 0)
		for _, v := range decodedParts(r, body) {
			dst = refAppendRuns(dst, v, w, 0)
		}
		if t, ok := XMLText(body); ok {
			dst = refAppendRuns(dst, t, w, 0)
		}
		mt := mediaTypeOf(r)
		if t, ok := documentText(mt, body); ok {
			dst = refAppendRuns(dst, t, w, 0)
		}
		// A protobuf message's fields: by its type, or, whatever the
		// type, when the body is a message whole.
		if t, ok := protobufText(mt, body); ok {
			dst = refAppendRuns(dst, t, w, 0)
		}
		budget := inflateBudget(len(body))
		if t, cut := grpcText(r, mt, body, &budget); cut {
			dst = append(dst, Candidate{Where: w, Unreadable: true})
		} else if t != "" {
			dst = refAppendRuns(dst, t, w, 0)
		}
		if t, ok := wideText(body); ok {
			dst = refAppendRuns(dst, t, w, 0)
			if x, ok := XMLText([]byte(t)); ok {
				dst = refAppendRuns(dst, x, w, 0)
			}
		}
	}
	return dst
}

// FuzzCandidatesEqualReference: the fast scan hands out the same strings
// as the reference scan, for any target, header value and body, and says
// which are JWT-shaped as LooksLikeJWT does.
func FuzzCandidatesEqualReference(f *testing.F) {
	f.Add("/a?access_token=eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln..", "Basic dXNlcjpZejdrUXAyclZ0OXdYYjRuTG04c0RmNmdIajNrUHExcg==", `{"t":"\u0059z7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"}`)
	f.Add("/x", "c=s%3AYz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r.Hmac0123456789abcdefghijklmnopq; j%3A%22abc%22", "a=1&t=Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r%3D%3D")
	f.Add("/", "Bearer 005|Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r==", "--b\r\nContent-Transfer-Encoding: base64\r\n\r\nWXo3a1FwMnJWdDl3WGI0bkxtOHNEZjZnSGoza1BxMXI=\r\n--b--")
	// A pickle and a Marshal'd string in base64, a binary body.
	f.Add("/", "s=KGRwMApWYWNjZXNzX3Rva2VuCnAxClZZejdrUXAyclZ0OXdYYjRuTG04c0RmNmdIajNrUHExcgpwMgpzLg==", "\x04\x08I\"EYz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1rYz7kQp2rVt9wXb4nLm8sDf6gHj3k\x06;\x00T")
	f.Add("/a/b.c.d/eee.fff.ggg/", "base64url.bearer.authorization.k8s.io.WXo3a1FwMnJWdDl3WGI0bkxtOHNEZjZnSGoza1BxMXI, x", "x=....::||eyJ9.eyJ9.x==")
	// Base64 in lines (a JSON string's escapes, a text's line breaks), a
	// protobuf message in base64 (a gRPC -bin header).
	f.Add("/", "QkFZejdrUXAyclZ0OXdYYjRuTG04c0RmNmdIajNrUHExcll6N2tRcDJyVnQ5d1hiNG5MbThzRGY2Z0hqM2tQcTFyWA==", `{"c":"WXo3a1Fw\nMnJWdDl3\r\nWGI0bkxt\nOHNEZjZnSGoza1BxMXI="}`)
	f.Add("/", "x", "t:\nWXo3a1FwMnJWdDl3\r\n  WGI0bkxtOHNEZjZn\rSGoza1BxMXI\n")
	f.Fuzz(func(t *testing.T, target, value, body string) {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = target
		r.Header = http.Header{"X": {value}, "Content-Type": {"multipart/form-data; boundary=b"}}
		want := map[string]bool{}
		for _, c := range refCandidates(r, []byte(body)) {
			want[c.S] = true
		}
		got := map[string]bool{}
		for _, c := range Candidates(r, []byte(body), nil) {
			got[c.S] = true
			if c.JWT != LooksLikeJWT(c.S) {
				t.Errorf("%q: JWT %v, LooksLikeJWT %v", c.S, c.JWT, !c.JWT)
			}
		}
		for s := range want {
			if !got[s] {
				t.Errorf("%q handed out by the reference only", s)
			}
		}
		for s := range got {
			if !want[s] {
				t.Errorf("%q handed out by the fast scan only", s)
			}
		}
	})
}

// FuzzSkipLeavesOutOnlyItsLengths: with a set of lengths to skip, the scan
// hands out what it hands out without one, but the opaque strings of
// those lengths (JWT-shaped strings always).
func FuzzSkipLeavesOutOnlyItsLengths(f *testing.F) {
	f.Add("/a?t=Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r", `{"id":"0000012a-1a3d-4e5f-8a9b-0c1d2e3f4a5b","t":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1In0.c2ln"}`, uint64(1)<<36|1<<32)
	f.Add("/x", "a=1&t=Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r%3D%3D&u=005|Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r", ^uint64(0))
	f.Fuzz(func(t *testing.T, target, body string, word uint64) {
		r, _ := http.NewRequest("POST", "http://h/", nil)
		r.RequestURI = target
		r.Header = http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
		var skip LengthSet
		skip.SetWord(0, word)
		want := map[string]bool{}
		for _, c := range TargetAndBodyCandidates(r, []byte(body), nil, nil) {
			if c.JWT || !skip.Has(len(c.S)) {
				want[c.S] = true
			}
		}
		got := map[string]bool{}
		for _, c := range TargetAndBodyCandidates(r, []byte(body), nil, &skip) {
			got[c.S] = true
		}
		if len(got) != len(want) {
			t.Fatalf("skipping %#x: %v, want %v", word, got, want)
		}
		for s := range want {
			if !got[s] {
				t.Fatalf("skipping %#x: %q left out", word, s)
			}
		}
	})
}
