package ssf

import "github.com/caddy-token-revocation/caddy-token-revocation/internal/ssftest"

// The specifications' example SETs (internal/ssftest holds them, for the
// end-to-end tests too).
const (
	caepSessionRevokedOpaque   = ssftest.CAEPSessionRevokedOpaque
	caepSessionRevokedComplex  = ssftest.CAEPSessionRevokedComplex
	caepSessionRevokedUser     = ssftest.CAEPSessionRevokedUser
	caepCredentialChangeCreate = ssftest.CAEPCredentialChangeCreate
	riscAccountDisabled        = ssftest.RISCAccountDisabled
	riscCredentialCompromise   = ssftest.RISCCredentialCompromise
	riscEmail                  = ssftest.RISCEmail
)

// claims parses an example into the map the transmitter signs.
func claims(example string) map[string]any { return ssftest.Claims(example) }
