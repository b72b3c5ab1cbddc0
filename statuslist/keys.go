package statuslist

import (
	"context"
	"fmt"

	"github.com/caddy-token-revocation/caddy-token-revocation/jwtverify"
)

// VerifierKeys backs Keys with a jwtverify.Set: a list named by a token of
// issuer X is verified with the keys of X's Verifier (its JWKS, discovery,
// public keys or HMAC secrets), and only with them.
type VerifierKeys struct {
	// Set holds the Verifiers of the issuers whose tokens are checked.
	Set *jwtverify.Set
}

// VerifySignature implements Keys.
func (k VerifierKeys) VerifySignature(ctx context.Context, issuer, raw string) ([]byte, error) {
	v := k.Set.Verifier(issuer)
	if v == nil {
		return nil, fmt.Errorf("%w %q", jwtverify.ErrUnknownIssuer, issuer)
	}
	return v.VerifySignature(ctx, raw, jwtverify.Options{})
}
