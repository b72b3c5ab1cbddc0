package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"testing"
)

// referenceJSONParams is what eachJSONParam did with encoding/json's
// Decoder before walkJSONParams: the reference the fuzz test holds it to.
func referenceJSONParams(body []byte, top bool, fn paramFunc) bool {
	return referenceWantedJSONParams(body, top, fn, nil)
}

// referenceWantedJSONParams is referenceJSONParams handing out the
// members wanted wants (all: nil); with top unset, what is inside a
// wanted member's object is that member's.
func referenceWantedJSONParams(body []byte, top bool, fn paramFunc, wanted func(string) bool) bool {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := referenceWalk(dec, top, "", false, false, 0, fn, wanted); err != nil {
		return false
	}
	_, err := dec.Token()
	return err == io.EOF
}

var errRefTooDeep = errors.New("too deep")

func referenceWalk(dec *json.Decoder, top bool, key string, member, inherit bool, depth int, fn paramFunc, wanted func(string) bool) error {
	if depth > maxJSONDepth {
		return errRefTooDeep
	}
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		switch v {
		case '{':
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				m := (!top || depth == 0) && (wanted == nil || wanted(k))
				if inherit {
					k, m = key, true
				}
				if err := referenceWalk(dec, top, k, m, m && !top && wanted != nil, depth+1, fn, wanted); err != nil {
					return err
				}
			}
		case '[':
			for dec.More() {
				if err := referenceWalk(dec, top, key, member, inherit, depth+1, fn, wanted); err != nil {
					return err
				}
			}
		}
		if v == '{' || v == '[' {
			_, err = dec.Token()
		}
		return err
	case string:
		if member {
			fn(key, v, false)
		}
	case json.Number:
		if member {
			fn(key, v.String(), false)
		}
	}
	return nil
}

func collectParams(walk func([]byte, bool, paramFunc) bool, body []byte, top bool) (bool, []string) {
	var got []string
	ok := walk(body, top, func(name, value string, _ bool) { got = append(got, fmt.Sprintf("%q=%q", name, value)) })
	return ok, got
}

// FuzzWalkJSONParamsIsTheDecoder: walkJSONParams reads the members
// encoding/json's Decoder reads, and refuses what it refuses (but for
// nesting deeper than maxJSONDepth, which both refuse).
func FuzzWalkJSONParamsIsTheDecoder(f *testing.F) {
	for _, s := range []string{
		`{"access_token":"T"}`, `{"a":{"access_token":"T","n":12.5e3}}`, `[{"x":["a","b"]},1]`,
		`{"k\u0061":"v\u00e9\ud83d\ude00"}`, `{"a":"b"} {"c":"d"}`, `{"a":NaN}`, `{"a":"\xff"}`,
		`{"a":1,"a":2}`, `{"a":[1,[2,{"b":"c"}]]}`, `  {"a" : "b" }  `, `{"a":tru}`, `"x"`, `{"a":-0.1E+2}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, body []byte, top bool) {
		wantOK, want := collectParams(referenceJSONParams, body, top)
		gotOK, got := collectParams(func(b []byte, top bool, fn paramFunc) bool { return walkJSONParams(b, top, fn, nil) }, body, top)
		if gotOK != wantOK || wantOK && !slices.Equal(got, want) {
			t.Fatalf("%q top=%v: walk %v %q, decoder %v %q", body, top, gotOK, got, wantOK, want)
		}
		// With a filter, the members it wants and no other, the same.
		odd := func(name string) bool { return len(name)%2 == 1 }
		_, wantOdd := collectParams(func(b []byte, top bool, fn paramFunc) bool {
			return referenceWantedJSONParams(b, top, fn, odd)
		}, body, top)
		oddOK, gotOdd := collectParams(func(b []byte, top bool, fn paramFunc) bool { return walkJSONParams(b, top, fn, odd) }, body, top)
		if oddOK != wantOK || wantOK && !slices.Equal(gotOdd, wantOdd) {
			t.Fatalf("%q top=%v, odd names: walk %v %q, decoder %v %q", body, top, oddOK, gotOdd, wantOK, wantOdd)
		}
	})
}

func BenchmarkEachJSONParam64K(b *testing.B) {
	body := jsonRecords64K()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if err := eachJSONParam(body, false, func(string, string, bool) {}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReferenceJSONParams64K(b *testing.B) {
	body := jsonRecords64K()
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if !referenceJSONParams(body, false, func(string, string, bool) {}) {
			b.Fatal("unreadable")
		}
	}
}

// jsonRecords64K is a 64 KiB JSON array of records, as an API takes them.
func jsonRecords64K() []byte {
	var buf bytes.Buffer
	buf.WriteString("[")
	for i := 0; buf.Len() < 64<<10-400; i++ {
		if i > 0 {
			buf.WriteString(",")
		}
		fmt.Fprintf(&buf, `{"id":"%08x-1a3d-4e5f-8a9b-0c1d2e3f4a5b","name":"Item %d","description":"words and \"quotes\"","price":%d.99,"tags":["red","sale"]}`, i, i, i%500)
	}
	buf.WriteString("]")
	return buf.Bytes()
}
