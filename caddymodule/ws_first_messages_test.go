package caddymodule

import (
	"encoding/base64"
	"strconv"
	"strings"
	"testing"

	"github.com/caddy-token-revocation/caddy-token-revocation/token"
)

// TestMessageStrings: the token T is among the strings checked in the
// first messages the common WebSocket protocols authenticate with.
func TestMessageStrings(t *testing.T) {
	const tok = "Yz7kQp2rVt9wXb4nLm8sDf6gHj3kPq1r"
	check := func(name, msg string) {
		t.Helper()
		for _, c := range token.TextCandidates(msg, token.Where{Part: "websocket"}, nil) {
			if c.S == tok {
				return
			}
		}
		t.Errorf("%s: %q: the token is not among the candidates", name, msg)
	}
	for name, msg := range map[string]string{
		"graphql-ws connection_init":             `{"type":"connection_init","payload":{"Authorization":"Bearer T"}}`,
		"subscriptions-transport-ws, lower case": `{"type":"connection_init","payload":{"authorization":"bearer T"}}`,
		"Socket.IO v4 connect":                   `40{"token":"T"}`,
		"Socket.IO connect to a namespace":       `40/admin,{"token":"T"}`,
		"Socket.IO event with an ack id":         `421["auth",{"jwt":"T"}]`,
		"JSON inside a JSON string (SockJS)":     `["{\"token\":\"T\"}"]`,
		"a member name":                          `{"T":true}`,
		"plain text":                             `T`,
		"STOMP CONNECT":                          "CONNECT\nAuthorization:Bearer T\n\n\x00",
		"binary, not UTF-8":                      "\xff\xfe\x00T\x01",
		"escaped in JSON":                        `{"token":"\u0059` + tok[1:] + `"}`,
		"name=value":                             `access_token=T`,
		"a query string in a message":            `{"url":"/x?access_token=T&y=1"}`,
		"percent-encoded":                        `{"url":"/x?access_token=T%26y"}`,
	} {
		check(name, strings.ReplaceAll(msg, "T", tok))
	}
	// XMPP over WebSocket (RFC 7395): a message is an XML element, which
	// the server's XML parser reads with its character references decoded.
	plain := base64.StdEncoding.EncodeToString([]byte("\x00ada\x00" + tok))
	for name, msg := range map[string]string{
		"XMPP SASL PLAIN, a character reference": "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" + plain[:6] + "&#" + strconv.Itoa(int(plain[6])) + ";" + plain[7:] + "</auth>",
		"XML element, a character reference":     "<iq type='set'><token>" + tok[:5] + "&#x" + strconv.FormatInt(int64(tok[5]), 16) + ";" + tok[6:] + "</token></iq>",
		"XML attribute, a character reference":   "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' token='" + tok[:9] + "&#" + strconv.Itoa(int(tok[9])) + ";" + tok[10:] + "'/>",
	} {
		check(name, msg)
	}
}
