package caddymodule

import (
	"slices"
	"testing"
)

// TestMessageStrings: the token T is among the strings checked in the
// first messages the common WebSocket protocols authenticate with.
func TestMessageStrings(t *testing.T) {
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
		"escaped in JSON":                        `{"token":"\u0054"}`,
		"name=value":                             `access_token=T`,
		"a query string in a message":            `{"url":"/x?access_token=T&y=1"}`,
	} {
		got := messageStrings([]byte(msg))
		if !slices.Contains(got, "T") {
			t.Errorf("%s: %q: strings %q, want T among them", name, msg, got)
		}
	}
}
