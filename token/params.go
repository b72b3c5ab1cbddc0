package token

import (
	"errors"
	"net/http"
)

// ErrRepeated is returned for a parameter given more than once: RFC 6749
// section 3.1 forbids it, and upstreams disagree on which value counts
// (PHP, Django and Rails take the last, Go and Spring the first).
var ErrRepeated = errors.New("parameter repeated")

// Params are the parameters of a request to a revocation route or a token
// endpoint, read as the most lenient upstream reads them (see
// eachEncodedParam): from the query, and from a form, multipart or JSON
// body (its top-level members). A parameter is one value per occurrence;
// the same parameter spelled another way (a ';'-separated pair inside an
// '&'-separated one, a name in another case) is another occurrence.
type Params struct {
	// Body is how the body was encoded.
	Body  BodyKind
	pairs []param
}

type param struct {
	name  string // normalized
	value string
}

// ReadParams reads r's parameters. The body is read within limit bytes (0:
// no limit) and put back unchanged for the upstream; the errors are
// Extract's.
func ReadParams(r *http.Request, limit int64) (*Params, error) {
	kind, err := BodyKindOf(r)
	if err != nil {
		return nil, err
	}
	p := &Params{Body: kind}
	add := func(name, value string, alt bool) {
		if !alt {
			p.pairs = append(p.pairs, param{name: NormalizeName(name), value: value})
		}
	}
	eachEncodedParam(r.URL.RawQuery, add)
	if kind == BodyNone || kind == BodyText || kind == BodyBinary {
		return p, nil // no parameters in them
	}
	body, err := ReadBody(r, limit)
	if err != nil {
		return nil, err
	}
	if body, err = decodedBody(r, body, limit); err != nil {
		return nil, err
	}
	if err := eachBodyParam(r, kind, body, true, add, nil); err != nil {
		return nil, err
	}
	return p, nil
}

// Values returns every value of the parameter name, in order.
func (p *Params) Values(name string) []string {
	want := NormalizeName(name)
	var out []string
	for _, pr := range p.pairs {
		if pr.name == want {
			out = append(out, pr.value)
		}
	}
	return out
}

// Get returns the value of name ("" when absent), or ErrRepeated when it
// occurs more than once.
func (p *Params) Get(name string) (string, error) {
	vs := p.Values(name)
	switch len(vs) {
	case 0:
		return "", nil
	case 1:
		return vs[0], nil
	}
	return "", ErrRepeated
}

// Repeated returns the first of names that occurs more than once, or "".
func (p *Params) Repeated(names ...string) string {
	for _, n := range names {
		if len(p.Values(n)) > 1 {
			return n
		}
	}
	return ""
}
