package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// caddyServer is a Caddy process of the binary under test.
type caddyServer struct {
	*proc
	port int
}

// url is the address of path on the server.
func (c *caddyServer) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", c.port, path)
}

// startCaddy runs the binary with a Caddyfile whose site block is site,
// listening on a free port (site must contain %d for it).
func (b *bench) startCaddy(name, site string) (*caddyServer, error) {
	port, dir, err := b.portAndDir(name)
	if err != nil {
		return nil, err
	}
	caddyfile := fmt.Sprintf(`{
	admin off
	persist_config off
	auto_https off
	log {
		level WARN
	}
}
%s
`, fmt.Sprintf(site, port))
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(caddyfile), 0o600); err != nil {
		return nil, err
	}
	p, err := b.start(name, []string{b.caddyBin, "run", "--config", file, "--adapter", "caddyfile"},
		[]string{"HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir})
	if err != nil {
		return nil, err
	}
	c := &caddyServer{proc: p, port: port}
	deadline := time.Now().Add(60 * time.Second) // a mirror of a million entries loads first
	for {
		res, err := http.Get(c.url("/ready"))
		if err == nil {
			res.Body.Close()
			return c, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("caddy %s exited:\n%s", name, p.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("caddy %s does not answer on port %d:\n%s", name, port, p.logTail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// upstreamSite is the upstream the gateways proxy to: Caddy answering
// every request 200 "ok".
const upstreamSite = `http://127.0.0.1:%d {
	respond "ok" 200
}`

// gatewaySite is token_revocation in front of an upstream: a format taking
// the Redis address, the check_mode (mirror or direct) and the upstream's
// port, whose result is a site for startCaddy.
const gatewaySite = `http://127.0.0.1:%%d {
	token_revocation {
		store redis {
			address %s
			check_mode %s
		}
		revoke /oauth/revoke
	}
	reverse_proxy 127.0.0.1:%d
}`
