package ssftest

import "encoding/json"

// The specifications' example SETs, less iss, aud, iat and jti, which the
// test transmitter fills in.

// CAEPSessionRevokedOpaque is CAEP 1.0 section 3.1.2's first example
// (txn a number, as written there).
const CAEPSessionRevokedOpaque = `{
  "txn": 8675309,
  "sub_id": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
      "event_timestamp": 1615304991643
    }
  }
}`

// CAEPSessionRevokedComplex is CAEP 1.0 section 3.1.2's complex-subject
// example.
const CAEPSessionRevokedComplex = `{
  "sub_id": {
    "format": "complex",
    "session": {"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"},
    "user": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "dMTlD|1600802906337.16|16008.16"},
    "tenant": {"format": "opaque", "id": "123456789"}
  },
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
      "initiating_entity": "policy",
      "reason_admin": {"en": "Landspeed Policy Violation: C076E82F"},
      "reason_user": {"en": "Access attempt from multiple regions."},
      "event_timestamp": 1615304991643
    }
  }
}`

// CAEPSessionRevokedUser is CAEP 1.0 section 3.1.2's user example.
const CAEPSessionRevokedUser = `{
  "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/123456789/", "sub": "jane.smith@example.com"},
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked": {
      "initiating_entity": "policy",
      "event_timestamp": 1615304991643
    }
  }
}`

// CAEPCredentialChangeCreate is CAEP 1.0 section 3.3.2's example: a
// credential created, which revokes nothing.
const CAEPCredentialChangeCreate = `{
  "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/3456789/", "sub": "jane.smith@example.com"},
  "events": {
    "https://schemas.openid.net/secevent/caep/event-type/credential-change": {
      "credential_type": "fido2-roaming",
      "change_type": "create",
      "fido2_aaguid": "accced6a-63f5-490a-9eea-e59bc1896cfc",
      "friendly_name": "Jane's USB authenticator",
      "initiating_entity": "user",
      "reason_admin": {"en": "User self-enrollment"},
      "event_timestamp": 1615304991643
    }
  }
}`

// RISCAccountDisabled is RISC 1.0 section 2.3's example.
const RISCAccountDisabled = `{
  "sub_id": {"format": "iss_sub", "iss": "https://idp.example.com/", "sub": "7375626A656374"},
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled": {
      "reason": "hijacking"
    }
  }
}`

// RISCCredentialCompromise is RISC 1.0 section 2.7's example, its subject
// inside the event as RISC writes it.
const RISCCredentialCompromise = `{
  "events": {
    "https://schemas.openid.net/secevent/risc/event-type/credential-compromise": {
      "subject": {"format": "iss_sub", "iss": "https://idp.example.com/", "sub": "7375626A656374"},
      "credential_type": "password"
    }
  }
}`

// RISCEmail is RISC's account-purged with an email subject (RFC 9493
// section 3.2.2's example address).
const RISCEmail = `{
  "sub_id": {"format": "email", "email": "user@example.com"},
  "events": {"https://schemas.openid.net/secevent/risc/event-type/account-purged": {}}
}`

// Claims parses an example into the map the transmitter signs.
func Claims(example string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal([]byte(example), &m); err != nil {
		panic(err)
	}
	return m
}
