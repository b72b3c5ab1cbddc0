package caddymodule

import "testing"

func TestRedisTLSCaddyfile(t *testing.T) {
	h, err := parseHandler(t, `token_revocation {
	store redis {
		tls {
			cert_file /c.pem
			key_file /k.pem
			min_version 1.3
		}
	}
}`)
	if err != nil {
		t.Fatal(err)
	}
	if got := h.Store.Redis.TLS; got.CertFile != "/c.pem" || got.KeyFile != "/k.pem" || got.MinVersion != "1.3" {
		t.Fatalf("parsed %+v", got)
	}
}
