package denylist

import "encoding/binary"

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

// benchEntries returns n distinct live entries of every kind.
func benchEntries(n int) []Entry {
	out := make([]Entry, n)
	for i := range out {
		var d Digest
		binary.LittleEndian.PutUint64(d[1:], uint64(i)*0x9e3779b97f4a7c15)
		binary.LittleEndian.PutUint64(d[8:], uint64(i))
		k := []Kind{KindToken, KindJTI, KindSession, KindUser}[i%4]
		d[0] = byte(k)
		out[i] = Entry{Key: Key{Kind: k, Digest: d}, Cutoff: t0, Expires: t0 + 3600}
	}
	return out
}
