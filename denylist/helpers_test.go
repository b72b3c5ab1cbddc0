package denylist

import ()

// t0 is the tests' "now": an arbitrary Unix time.
const t0 int64 = 1_700_000_000

var testHasher = NewHasher(nil)

func tokenKey(s string) Key   { return testHasher.Key(KindToken, "ns", []byte(s)) }
func sessionKey(s string) Key { return testHasher.SessionKey("ns", "https://idp", s) }
func userKey(s string) Key    { return testHasher.UserKey("ns", "https://idp", s) }

func query(iat int64, keys ...Key) *Query {
	q := &Query{IssuedAt: iat}
	for _, k := range keys {
		q.Add(k)
	}
	return q
}

func tokenEntry(name string) Entry {
	return Entry{Key: tokenKey(name), Cutoff: CutoffAlways, Expires: t0 + 3600}
}
