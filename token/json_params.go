package token

// walkJSONParams calls fn for every member of the JSON value body whose
// value is a string or a number (each element, for an array of them), at
// any depth or at the top only (with top unset and wanted set, a wanted
// member whose value is an object, or an array of objects, gives every
// string and number inside it under its own name: body-parser, PHP's json_decode and Rack hand
// {"access_token":{"value":"T"}} to code that takes its strings), as encoding/json's Decoder reads them
// (strings decoded, numbers as written), members repeated in one object
// each. It reports whether body is exactly one JSON value no deeper than
// maxJSONDepth. It runs on the claims scanner (scan.go): a 64 KiB body
// costs a pass over its bytes and no allocation for plain strings, where
// json.Decoder.Token allocated for every token. wanted, when not nil,
// says which names fn wants: the values of other members are not decoded.
func walkJSONParams(body []byte, top bool, fn paramFunc, wanted func(name string) bool) bool {
	s := &scanner{b: body, wanted: wanted}
	s.ws()
	if !s.walkParams(0, top, "", false, fn) {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// walkParams walks the value at s.i, the value of member key when member
// is set; depth is the nesting depth of the value (0 at the top).
func (s *scanner) walkParams(depth int, top bool, key string, member bool, fn paramFunc) bool {
	if depth > maxJSONDepth || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.walkObject(depth, top, key, member && !top && s.wanted != nil, fn)
	case c == '[':
		return s.elements(depth+1, func() bool { return s.walkParams(depth+1, top, key, member, fn) })
	case c == '"':
		start, end, plain, ok := s.string()
		if ok && member {
			v, vok := s.decodedString(start, end, plain)
			if !vok {
				return false
			}
			fn(key, v, false)
		}
		return ok
	case c == '-' || isDigit(c):
		start := s.i
		if !s.number() {
			return false
		}
		if member {
			fn(key, s.substr(start, s.i), false)
		}
		return true
	case c == 't':
		return s.literal("true")
	case c == 'f':
		return s.literal("false")
	case c == 'n':
		return s.literal("null")
	}
	return false
}

// walkObject walks the object whose '{' is at s.i. With inherit, it is
// the value of member outer, and every value inside it is outer's.
func (s *scanner) walkObject(depth int, top bool, outer string, inherit bool, fn paramFunc) bool {
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
		key, ok := s.decodedString(start, end, plain)
		if !ok {
			return false
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return false
		}
		s.i++
		s.ws()
		member := (!top || depth == 0) && (s.wanted == nil || s.wanted(key))
		if inherit {
			key, member = outer, true
		}
		if !s.walkParams(depth+1, top, key, member, fn) {
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

// decodedString is the string whose content is [start, end), decoded as
// encoding/json decodes it: as it is when plain, else by unquoteJSON.
func (s *scanner) decodedString(start, end int, plain bool) (string, bool) {
	if s.plainString(start, end, plain) {
		return s.substr(start, end), true // body is read-only once read
	}
	return unquoteJSON(s.b[start:end])
}
