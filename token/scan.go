package token

import (
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"
)

// This file holds a small JSON scanner for the request check path: it
// validates a JWT payload exactly as encoding/json does and reads the
// claims the denylist uses in the same pass, without reflection. Anything
// it cannot decode exactly as encoding/json would (escaped or non-ASCII
// keys, keys that match a claim only case-insensitively, escaped strings)
// it hands back to encoding/json, so Parse gives the same result either
// way; FuzzParse holds it to that.

// scanResult says what scanClaims made of a payload.
type scanResult int

const (
	// scanInvalid: not valid JSON, or not an object.
	scanInvalid scanResult = iota
	// scanTypeError: valid JSON, but a claim has a type that makes
	// json.Unmarshal into Claims fail (a number as "sub", say).
	scanTypeError
	// scanSlow: valid JSON that only encoding/json decodes exactly.
	scanSlow
	// scanOK: the claims were read.
	scanOK
)

// maxNestingDepth is encoding/json's limit on nested objects and arrays.
const maxNestingDepth = 10000

type scanner struct {
	b        []byte
	i        int
	slow     bool // something needs encoding/json to be decoded exactly
	typeErr  bool // a claim has a type json.Unmarshal rejects
	audience bool // keep the aud claim (else only check its type)
	// wanted, when set, says which members' values walkJSONParams hands
	// out (the others are walked, not decoded).
	wanted func(name string) bool
}

// validJSON reports whether b is one valid JSON value, as json.Valid does.
func validJSON(b []byte) bool {
	s := scanner{b: b}
	s.ws()
	if !s.value(0) {
		return false
	}
	s.ws()
	return s.i == len(b)
}

// scanClaims validates payload and, when it is a JSON object, reads its
// claims into c (which the caller must discard unless the result is
// scanOK); the aud claim only with audience. The strings in c share
// payload's bytes, which must not change while c is in use.
func scanClaims(payload []byte, c *Claims, audience bool) scanResult {
	s := scanner{b: payload, audience: audience}
	s.ws()
	if s.i >= len(s.b) || s.b[s.i] != '{' || !s.object(1, c, nil) {
		return scanInvalid
	}
	s.ws()
	switch {
	case s.i != len(s.b):
		return scanInvalid
	case s.slow:
		return scanSlow
	case s.typeErr:
		return scanTypeError
	}
	return scanOK
}

// ws skips whitespace. (The loops of ws and string run on locals: a
// field of s would be stored to memory at every byte.)
func (s *scanner) ws() {
	b, i := s.b, s.i
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			s.i = i
			return
		}
	}
	s.i = i
}

// value scans one value; depth is the nesting depth around it.
func (s *scanner) value(depth int) bool {
	if s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.object(depth+1, nil, nil)
	case c == '[':
		return s.array(depth + 1)
	case c == '"':
		_, _, _, ok := s.string()
		return ok
	case c == '-' || isDigit(c):
		return s.number()
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

// object scans an object whose '{' is at s.i. With c set, its members are
// claims (the payload's top level); with cnf set, the members of the cnf
// claim.
func (s *scanner) object(depth int, c *Claims, cnf *Confirmation) bool {
	if depth > maxNestingDepth {
		return false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return true
	}
	for {
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return false
		}
		start, end, plain, ok := s.string()
		if !ok {
			return false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		switch {
		case c != nil:
			ok = s.claim(depth, c, s.b[start:end], plain)
		case cnf != nil:
			ok = s.confirmationMember(depth, cnf, s.b[start:end], plain)
		default:
			ok = s.value(depth)
		}
		if !ok {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case '}':
			s.i++
			return true
		default:
			return false
		}
	}
}

// array scans an array whose '[' is at s.i.
func (s *scanner) array(depth int) bool {
	return s.elements(depth, func() bool { return s.value(depth) })
}

// elements scans an array whose '[' is at s.i, calling elem for each
// element.
func (s *scanner) elements(depth int, elem func() bool) bool {
	if depth > maxNestingDepth {
		return false
	}
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		s.ws()
		if s.i >= len(s.b) {
			return false
		}
		switch s.b[s.i] {
		case ',':
			s.i++
			s.ws()
		case ']':
			s.i++
			return true
		default:
			return false
		}
	}
}

// string scans a string whose '"' is at s.i and returns where its content
// lies. plain means no escapes and only ASCII: the content is the decoded
// string as is.
func (s *scanner) string() (start, end int, plain, ok bool) {
	b, i := s.b, s.i+1
	start, plain = i, true
	for i < len(b) {
		c := b[i]
		if plainStringByte[c] { // the common case, first
			i++
			continue
		}
		switch {
		case c == '"':
			s.i = i + 1
			return start, i, plain, true
		case c < 0x20:
			return 0, 0, false, false
		case c == '\\':
			plain = false
			i++
			if i >= len(b) {
				return 0, 0, false, false
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) {
					return 0, 0, false, false
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return 0, 0, false, false
					}
				}
				i += 5
			default:
				return 0, 0, false, false
			}
		case c >= utf8.RuneSelf:
			plain = false
			i++
		default:
			i++
		}
	}
	return 0, 0, false, false
}

func (s *scanner) number() bool {
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i >= len(s.b):
		return false
	case s.b[s.i] == '0':
		s.i++
	case isDigit(s.b[s.i]):
		s.digits()
	default:
		return false
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if s.i >= len(s.b) || !isDigit(s.b[s.i]) {
			return false
		}
		s.digits()
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if s.i >= len(s.b) || !isDigit(s.b[s.i]) {
			return false
		}
		s.digits()
	}
	return true
}

func (s *scanner) digits() {
	for s.i < len(s.b) && isDigit(s.b[s.i]) {
		s.i++
	}
}

func (s *scanner) literal(lit string) bool {
	if len(s.b)-s.i < len(lit) || string(s.b[s.i:s.i+len(lit)]) != lit {
		return false
	}
	s.i += len(lit)
	return true
}

// plainStringByte[c] says c stands for itself inside a string: printable
// ASCII other than '"' and '\\'.
var plainStringByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// substr returns the payload bytes [start, end) as a string that shares
// them (see scanClaims): claims cost no copy.
func (s *scanner) substr(start, end int) string {
	if start == end {
		return ""
	}
	return unsafe.String(&s.b[start], end-start)
}

// plainString reports whether the string content [start, end) decodes to
// itself: no escapes, valid UTF-8 (encoding/json replaces invalid UTF-8).
func (s *scanner) plainString(start, end int, plain bool) bool {
	return plain || utf8.Valid(s.b[start:end]) && !containsByte(s.b[start:end], '\\')
}

func containsByte(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

// claim scans the value of the top-level member key, storing it when key
// names a claim, the way json.Unmarshal into Claims would.
func (s *scanner) claim(depth int, c *Claims, key []byte, plainKey bool) bool {
	if s.i >= len(s.b) {
		return false
	}
	if !plainKey {
		// An escaped or non-ASCII key may still decode or fold to a
		// claim name ("\u0073ub", "ſub"): encoding/json decides.
		s.slow = true
		return s.value(depth)
	}
	switch string(key) {
	case "iss":
		return s.stringClaim(depth, &c.Issuer)
	case "sub":
		return s.stringClaim(depth, &c.Subject)
	case "sid":
		return s.stringClaim(depth, &c.SessionID)
	case "jti":
		return s.stringClaim(depth, &c.ID)
	case "typ":
		return s.stringClaim(depth, &c.Type)
	case "aud":
		return s.audienceClaim(depth, &c.Audience)
	case "iat":
		return s.dateClaim(depth, &c.IssuedAt)
	case "exp":
		return s.dateClaim(depth, &c.Expiry)
	case "nbf":
		return s.dateClaim(depth, &c.NotBefore)
	case "azp":
		return s.stringClaim(depth, &c.AuthorizedParty)
	case "cnf":
		return s.confirmationClaim(depth, &c.Confirmation)
	}
	if len(key) == len("client_id") && string(key) == "client_id" {
		return s.stringClaim(depth, &c.ClientID)
	}
	if (len(key) == 3 || len(key) == len("client_id")) && claimNameFold(key) {
		// encoding/json matches field names case-insensitively.
		s.slow = true
	}
	return s.value(depth)
}

// claimNameFold reports whether key equals a claim name but for ASCII case.
func claimNameFold(key []byte) bool {
	var lower [len("client_id")]byte
	if len(key) > len(lower) {
		return false
	}
	for i, c := range key {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower[:len(key)]) {
	case "iss", "sub", "sid", "jti", "typ", "aud", "iat", "exp", "nbf", "azp", "cnf", "client_id":
		return true
	}
	return false
}

// confirmationClaim follows Confirmation.UnmarshalJSON: an object's
// members are read; anything else (null, a string, ...) leaves dst as it
// is, and is no type error.
func (s *scanner) confirmationClaim(depth int, dst *Confirmation) bool {
	if s.b[s.i] != '{' {
		return s.value(depth)
	}
	return s.object(depth+1, nil, dst)
}

// confirmationMember scans the value of the cnf member key: jkt and
// x5t#S256 are stored when they are strings (null, or another type, leaves
// them as they are, as encoding/json does into a Confirmation).
func (s *scanner) confirmationMember(depth int, dst *Confirmation, key []byte, plainKey bool) bool {
	if s.i >= len(s.b) {
		return false
	}
	var v *string
	switch {
	case !plainKey:
		s.slow = true // it may decode or fold to a member's name
	case string(key) == "jkt":
		v = &dst.JKT
	case string(key) == "x5t#S256":
		v = &dst.X5TS256
	case confirmationNameFold(key):
		s.slow = true // encoding/json matches names case-insensitively
	}
	if v == nil || s.b[s.i] != '"' {
		return s.value(depth)
	}
	str, ok := s.stringValue()
	if ok && !s.slow {
		*v = str
	}
	return ok
}

// confirmationNameFold reports whether key equals jkt or x5t#S256 but for
// ASCII case.
func confirmationNameFold(key []byte) bool {
	return len(key) == len("jkt") && strings.EqualFold(string(key), "jkt") ||
		len(key) == len("x5t#S256") && strings.EqualFold(string(key), "x5t#S256")
}

// stringValue scans a string value whose '"' is at s.i and returns it
// decoded; one it cannot decode exactly marks the scan slow (and gives "").
func (s *scanner) stringValue() (v string, ok bool) {
	start, end, plain, ok := s.string()
	if !ok {
		return "", false
	}
	if !s.plainString(start, end, plain) {
		s.slow = true
		return "", true
	}
	return s.substr(start, end), true
}

// stringClaim: a string is stored, null leaves dst as it is, anything else
// is a type error.
func (s *scanner) stringClaim(depth int, dst *string) (ok bool) {
	switch s.b[s.i] {
	case '"':
		*dst, ok = s.stringValue()
		return ok
	case 'n':
		return s.literal("null")
	}
	s.typeErr = true
	return s.value(depth)
}

// audienceClaim follows Audience.UnmarshalJSON: a string is a one-element
// audience, null none, an array of strings (null elements are "") the
// audience; anything else is a type error.
func (s *scanner) audienceClaim(depth int, dst *Audience) bool {
	switch s.b[s.i] {
	case '"':
		v, ok := s.stringValue()
		if s.audience {
			*dst = Audience{v}
		}
		return ok
	case 'n':
		*dst = nil
		return s.literal("null")
	case '[':
		var aud Audience
		if s.audience {
			aud = Audience{}
		}
		ok := s.elements(depth+1, func() bool {
			if s.i >= len(s.b) {
				return false
			}
			switch s.b[s.i] {
			case '"':
				v, ok := s.stringValue()
				if s.audience {
					aud = append(aud, v)
				}
				return ok
			case 'n':
				if s.audience {
					aud = append(aud, "")
				}
				return s.literal("null")
			}
			s.typeErr = true
			return s.value(depth + 1)
		})
		*dst = aud
		return ok
	}
	s.typeErr = true
	return s.value(depth)
}

// dateClaim follows NumericDate.UnmarshalJSON: a number is stored without
// its fraction; anything else (null, a string, ...) stores 0.
func (s *scanner) dateClaim(depth int, dst *NumericDate) bool {
	if c := s.b[s.i]; c != '-' && !isDigit(c) {
		*dst = 0
		return s.value(depth)
	}
	start := s.i
	if !s.number() {
		return false
	}
	*dst = numericDate(s.b[start:s.i])
	return true
}

// numericDate converts a JSON number as json.Unmarshal into a float64 and
// then NumericDate does: short integers directly, anything else through
// strconv.ParseFloat; out of range is 0.
func numericDate(num []byte) NumericDate {
	digits, neg := num, false
	if len(digits) > 0 && digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	if len(digits) > 0 && len(digits) <= 15 { // below 2^53: exact as a float64
		var n int64
		for _, c := range digits {
			if !isDigit(c) {
				n = -1
				break
			}
			n = n*10 + int64(c-'0')
		}
		if n >= 0 {
			if neg {
				n = -n
			}
			return NumericDate(n)
		}
	}
	f, err := strconv.ParseFloat(string(num), 64)
	if err != nil {
		return 0
	}
	return NumericDate(f)
}
