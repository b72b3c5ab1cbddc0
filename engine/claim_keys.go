package engine

import "github.com/caddy-token-revocation/caddy-token-revocation/denylist"

// claimKeys remembers the denylist keys of the claims that come back in
// many tokens: a user's sub, a session's sid, an issuer's client-wide
// cut-offs, the key a client instance binds its tokens to (cnf). A client's next access token (after a refresh) is a JWT never
// seen before whose only new claim is its jti, and each of these keys costs
// a SHA-256 digest of two blocks (HMAC: three) where finding it again
// costs two maphashes of the claim. A jti never comes back, so it is hashed
// every time. A key depends only on its kind, namespace, issuer and value
// and on the hasher, never on the denylist, so an entry cannot go stale;
// no claim is kept (see hashedCache).
type claimKeys = hashedCache[denylist.Key]

// claimKeysGeneration is a claim key cache shard's generation: 16384 to
// 32768 keys in all.
const claimKeysGeneration = 1024

func newClaimKeys() *claimKeys { return newHashedCache[denylist.Key](claimKeysGeneration) }

// claimKey is the key of kind for issuer iss and value v in namespace ns
// (what Hasher.SessionKey, UserKey, ClientKey and KeyKey give, a KeyKey's
// method as iss), from memo when it
// has it; memo may be nil.
func (k *Keys) claimKey(memo *claimKeys, kind denylist.Kind, ns, iss, v string) denylist.Key {
	if memo == nil {
		return k.Hasher.KeyStrings(kind, ns, iss, v)
	}
	id := memo.keyOf(kind.String(), ns, iss, v)
	var key denylist.Key
	if memo.get(id, &key) {
		return key
	}
	key = k.Hasher.KeyStrings(kind, ns, iss, v)
	memo.put(id, &key)
	return key
}
