package tests

import (
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// reloadMemoryCaddyfile is a gateway on a Redis store whose config differs
// by one header value (its generation) from one /load to the next.
// Arguments: the generation, the Redis address, the upstream.
const reloadMemoryCaddyfile = `http:// {
	header X-Generation %s
	token_revocation {
		store redis {
			address %s
		}
		revoke /oauth/revoke
	}
	reverse_proxy %s
}`

// TestReloadsHoldNoMemory (issue 23, item 6): 150 configs loaded through the
// admin API's /load, with a few proxied requests between loads on
// keep-alive connections (the old configs' idle connections to the
// upstream outlive them), leave the Go heap after a collection below
// 100 MB. Each handler used to preallocate its query and claim caches
// (about 3 MB) and keep them after Cleanup: 150 reloads held 463 MB.
func TestReloadsHoldNoMemory(t *testing.T) {
	r := startRedis(t)
	up := startUpstream(t)
	c := startCaddy(t, reloadMemoryCaddyfile, "0", r.Addr, up.Addr())

	// The config as JSON once; each load replaces the generation's marker.
	const marker = "reload-generation-marker"
	c.writeCaddyfile(fmt.Sprintf(reloadMemoryCaddyfile, marker, r.Addr, up.Addr()))
	adapt := exec.Command(c.bin, "adapt", "--config", c.Caddyfile, "--adapter", "caddyfile")
	adapt.Env = c.env
	cfg, err := adapt.Output()
	if err != nil || !strings.Contains(string(cfg), marker) {
		t.Fatalf("caddy adapt: %v\n%s", err, cfg)
	}

	const reloads = 150
	before := heapAfterGC(t, c)
	rssBefore := rssIfLinux(t, c)
	for gen := 1; gen <= reloads; gen++ {
		body := strings.ReplaceAll(string(cfg), marker, strconv.Itoa(gen))
		if err := postLoad(c, []byte(body)); err != nil {
			t.Fatalf("load %d: %v", gen, err)
		}
		// Light load on the new config, over keep-alive connections to
		// Caddy and, from Caddy, to the upstream.
		for i := range 3 {
			res, err := sendVia(loadClient, http.MethodGet, c.URL("/api"), nil, fmt.Sprintf("Authorization: Bearer reload-%d-%d", gen, i))
			if err != nil || res.Status != http.StatusOK {
				// The reload may drop a request in flight (see
				// TestReloadUnderLoad); one more gets the new config.
				res, err = sendVia(loadClient, http.MethodGet, c.URL("/api"), nil, "Authorization: Bearer reload-retry")
			}
			if err != nil || res.Status != http.StatusOK {
				t.Fatalf("load %d, request %d: %v %d", gen, i, err, res.Status)
			}
		}
	}
	after := heapAfterGC(t, c)
	t.Logf("Go heap after GC: %.1f MB before %d reloads, %.1f MB after; RSS %.1f MB, then %.1f MB",
		mb(before), reloads, mb(after), mb(rssBefore), mb(rssIfLinux(t, c)))
	const bound = 100 << 20
	if after > bound {
		t.Errorf("Go heap after GC is %.1f MB after %d reloads (%.1f MB before), want < %.0f MB: old configs' handlers hold memory", mb(after), reloads, mb(before), mb(bound))
	}
}

// heapAfterGC is the running Caddy's Go heap in use (runtime.MemStats's
// HeapAlloc) right after a collection, from the admin endpoint's pprof
// handler (gc=1 collects first; debug=1 prints the MemStats).
func heapAfterGC(t testing.TB, c *Caddy) uint64 {
	t.Helper()
	res := get(t, c.AdminURL("/debug/pprof/heap?gc=1&debug=1"))
	for _, line := range strings.Split(res.Body, "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatalf("admin pprof heap: HeapAlloc %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatalf("admin pprof heap: %d, no HeapAlloc line", res.Status)
	return 0
}

func mb(n uint64) float64 { return float64(n) / (1 << 20) }

// rssIfLinux is caddyRSS where /proc has it, 0 elsewhere (logged only).
func rssIfLinux(t testing.TB, c *Caddy) uint64 {
	if runtime.GOOS != "linux" {
		return 0
	}
	return uint64(caddyRSS(t, c))
}
