package tests

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/redisstore"
)

// The same revoke/enforce flows on every Redis topology, and failover under
// load: a revocation answered 2xx is never lost (issue 6, failure
// behaviour).

// topologyCaddyfile is a gateway on a Redis store (the store block's body
// is the first argument) with the RFC 7009 route answered by the gateway
// and a Keycloak logout forwarded to the upstream.
const topologyCaddyfile = `http:// {
	token_revocation {
		store redis {
			%s
		}
		revoke /oauth/revoke
		logout /realms/demo/protocol/openid-connect/logout forward
		cookie session
		retry_after 1s
	}
	reverse_proxy %s
}`

// startKeycloakish is an upstream that answers Keycloak's logout with 204
// and everything else with the echo of the request.
func startKeycloakish(t *testing.T) *Upstream {
	t.Helper()
	return startUpstreamHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/protocol/openid-connect/logout") {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, `{"path":%q}`, r.URL.Path)
	}))
}

// rejectedEverywhere polls until every channel of every instance answers
// tok with 401.
func rejectedEverywhere(t *testing.T, what, tok string, cs ...*Caddy) {
	t.Helper()
	for i, c := range cs {
		for name, send := range channels(c) {
			pollUntil(t, 5*time.Second, func() string {
				if res := send(t, tok); res.Status != http.StatusUnauthorized {
					return fmt.Sprintf("%s: instance %d, %s: status %d, want 401", what, i, name, res.Status)
				}
				return ""
			})
		}
	}
}

// revokeEnforceFlows is the suite every topology passes: revocation through
// the RFC 7009 route on one instance, rejected on every channel of both; a
// Keycloak logout forwarded and confirmed on the other, whose session's
// access tokens are then rejected on both.
func revokeEnforceFlows(t *testing.T, a, b *Caddy) {
	t.Helper()
	tok := "topo-" + randomString()
	for i, c := range []*Caddy{a, b} {
		for name, send := range channels(c) {
			if res := send(t, tok); res.Status != http.StatusOK {
				t.Fatalf("instance %d, %s before revocation: %d\n%s", i, name, res.Status, res.Body)
			}
		}
	}
	if res := postForm(t, a.URL("/oauth/revoke"), url.Values{"token": {tok}}); res.Status != http.StatusOK {
		t.Fatalf("revoke: %d %s", res.Status, res.Body)
	}
	rejectedEverywhere(t, "revoked on a", tok, a, b)

	now := time.Now().Unix()
	sid := "sid-" + randomString()
	refresh := unsignedToken(map[string]any{"typ": "Refresh", "sid": sid, "sub": "u1", "iss": "https://idp", "iat": now - 5, "exp": now + 600, "jti": randomString()})
	access := unsignedToken(map[string]any{"typ": "Bearer", "sid": sid, "sub": "u1", "iss": "https://idp", "iat": now - 5, "exp": now + 300, "jti": randomString()})
	if res := get(t, a.URL("/api"), "Authorization: Bearer "+access); res.Status != http.StatusOK {
		t.Fatalf("access token before logout: %d", res.Status)
	}
	res := postForm(t, b.URL("/realms/demo/protocol/openid-connect/logout"), url.Values{"refresh_token": {refresh}, "client_id": {"app"}})
	if res.Status != http.StatusNoContent {
		t.Fatalf("forwarded logout: %d %s", res.Status, res.Body)
	}
	rejectedEverywhere(t, "access token of the logged-out session", access, a, b)
	other := unsignedToken(map[string]any{"typ": "Bearer", "sid": "other-" + sid, "sub": "u1", "iss": "https://idp", "iat": now - 5, "exp": now + 300})
	for i, c := range []*Caddy{a, b} {
		if res := get(t, c.URL("/api"), "Authorization: Bearer "+other); res.Status != http.StatusOK {
			t.Errorf("instance %d: a token of another session: %d, want 200", i, res.Status)
		}
	}
}

// TestTopologies runs the flows on standalone, Sentinel and Cluster Redis,
// with two Caddy instances sharing each.
func TestTopologies(t *testing.T) {
	topologies := []struct {
		name  string
		store func(t *testing.T) string
	}{
		{"standalone", func(t *testing.T) string {
			return "address " + startRedis(t).Addr
		}},
		{"sentinel", func(t *testing.T) string {
			g := startSentinelGroup(t)
			return "address " + g.addresses() + "\n\t\t\tmaster_name " + sentinelMaster + "\n\t\t\tmin_replicas 1"
		}},
		{"cluster", func(t *testing.T) string {
			return "address " + startCluster(t, false).seeds() + "\n\t\t\tcluster"
		}},
		// Issue 14: the denylist spread over the three primaries.
		{"cluster, 3 partitions, compact layout", func(t *testing.T) string {
			return "address " + startCluster(t, false).seeds() + "\n\t\t\tcluster\n\t\t\tpartitions 3\n\t\t\tlayout compact"
		}},
		{"sentinel, 4 partitions, compact layout", func(t *testing.T) string {
			g := startSentinelGroup(t)
			return "address " + g.addresses() + "\n\t\t\tmaster_name " + sentinelMaster + "\n\t\t\tmin_replicas 1\n\t\t\tpartitions 4\n\t\t\tlayout compact"
		}},
	}
	for _, tp := range topologies {
		t.Run(tp.name, func(t *testing.T) {
			up := startKeycloakish(t)
			store := tp.store(t)
			a := startCaddy(t, topologyCaddyfile, store, up.Addr())
			b := startCaddy(t, topologyCaddyfile, store, up.Addr())
			revokeEnforceFlows(t, a, b)
		})
	}
}

// failoverUnderLoad revokes tokens throughout (4 workers) while kill takes
// the primary away and returns once failover is done; restore then brings
// a replica back for the new primary (min_replicas 1 needs one). It checks
// that revocations go on after failover and that every revocation
// answered 200, before, during or after, is rejected afterwards.
func failoverUnderLoad(t *testing.T, c *Caddy, kill, restore func()) {
	t.Helper()
	var acked ackedSet
	l := startLoad(t, 4, 60*time.Second, revokeLoad(loadClient, c, "fo-"+randomString(), &acked))
	pollUntil(t, 10*time.Second, func() string {
		if acked.len() < 40 {
			return fmt.Sprintf("only %d revocations acknowledged before the failover: %s", acked.len(), l.Summary())
		}
		return ""
	})
	start := time.Now()
	atKill := acked.len()
	kill()
	t.Logf("failed over in %s", time.Since(start).Round(time.Millisecond))
	atFailover := acked.len()
	restore()
	before := acked.len()
	pollUntil(t, 30*time.Second, func() string {
		if acked.len() < before+40 {
			return fmt.Sprintf("revocations do not go on after failover: %d acknowledged since; %s", acked.len()-before, l.Summary())
		}
		return ""
	})
	l.Stop()
	t.Logf("load: %s; recovered %s after the kill", l.Summary(), time.Since(start).Round(time.Millisecond))
	if st := l.Statuses(); st[-1] > 0 || st[599] > 0 {
		t.Errorf("revocations answered other than 200 or 503+Retry-After, or dropped: %s", l.Summary())
	}
	toks := acked.list()
	if lost := allRejected(t, c.URL, toks); len(lost) > 0 {
		// Where the lost ones were acknowledged: before kill (which first
		// cuts the replica off), during kill and failover, or after.
		pos := make(map[string]int, len(toks))
		for i, tok := range toks {
			pos[tok] = i
		}
		var phases [3]int
		for _, l := range lost {
			tok, _, _ := strings.Cut(l, " ")
			switch i := pos[tok]; {
			case i < atKill:
				phases[0]++
			case i < atFailover:
				phases[1]++
			default:
				phases[2]++
			}
		}
		t.Fatalf("%d of %d revocations answered 200 were lost in the failover (acknowledged: %d before the replica was cut off, %d while it was cut off or failing over, %d after), e.g. %s",
			len(lost), len(toks), phases[0], phases[1], phases[2], lost[0])
	}
	if res := get(t, c.URL("/api"), "Authorization: Bearer never-revoked"); res.Status != http.StatusOK {
		t.Errorf("a valid token after failover: %d", res.Status)
	}
}

// TestSentinelFailover kills the primary under a stream of revocations:
// Sentinel promotes the replica; with min_replicas 1 no revocation answered
// 200 is lost, and revocations go on once the old primary is back as the
// new primary's replica.
func TestSentinelFailover(t *testing.T) {
	g := startSentinelGroup(t)
	up := startKeycloakish(t)
	c := startCaddy(t, topologyCaddyfile, "address "+g.addresses()+"\n\t\t\tmaster_name "+sentinelMaster+
		"\n\t\t\tmin_replicas 1\n\t\t\treplica_timeout 500ms\n\t\t\tdial_timeout 500ms", up.Addr())
	failoverUnderLoad(t, c, func() {
		lagReplicaThenKill(t, g.primary, g.replica, 300*time.Millisecond)
		pollUntil(t, 20*time.Second, func() string {
			if m := g.master(t); m != g.replica.Addr {
				return "Sentinel did not promote the replica: master is " + m
			}
			return ""
		})
	}, func() {
		// The old primary comes back empty and is made the new primary's
		// replica, as Sentinel would do too, but only after watching it
		// for 8 seconds.
		g.primary.Restart()
		if err := g.primary.Client().ReplicaOf(context.Background(), "127.0.0.1", strconv.Itoa(g.replica.Port)).Err(); err != nil {
			t.Fatal(err)
		}
	})
}

// TestClusterFailover kills the primary that holds the denylist's slot
// under a stream of revocations: its replica takes over; with min_replicas
// 1 no revocation answered 200 is lost, and revocations go on once the old
// primary is back as a replica.
func TestClusterFailover(t *testing.T) {
	for _, tc := range []struct {
		name, store, key string
	}{
		// One partition (an earlier release's prefix; a new one gets
		// 24 on a Cluster): its one primary dies.
		{"one slot", "\n\t\t\tpartitions 1", "{trv}:entries"},
		// Issue 14: three partitions, one per primary; the one of
		// partition 0 dies (its tag is "{trv/0.s}", see denylist).
		{"3 partitions, compact layout", "\n\t\t\tpartitions 3\n\t\t\tlayout compact", partitionKey(t, 3, 0)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := startCluster(t, true)
			up := startKeycloakish(t)
			c := startCaddy(t, topologyCaddyfile, "address "+cl.seeds()+"\n\t\t\tcluster\n\t\t\tmin_replicas 1\n\t\t\treplica_timeout 500ms\n\t\t\tdial_timeout 500ms"+tc.store, up.Addr())
			owner := cl.ownerOf(t, tc.key)
			if owner == nil {
				t.Fatal("no node owns the denylist's slot")
			}
			replica := cl.replicaOf(t, owner)
			failoverUnderLoad(t, c, func() {
				lagReplicaThenKill(t, owner, replica, 300*time.Millisecond)
				pollUntil(t, 20*time.Second, func() string {
					if o := cl.ownerOf(t, tc.key); o == nil || o == owner {
						return "no replica took over the denylist's slot"
					}
					return ""
				})
			}, func() {
				// Its nodes.conf kept, the old primary rejoins as a replica.
				owner.Restart()
			})
		})
	}
}

// partitionKey returns the entries key of partition i of n of the default
// key prefix.
func partitionKey(t *testing.T, n, i int) string {
	t.Helper()
	k, _, _ := redisstore.PartitionKeysOf(redisstore.DefaultRedisKeyPrefix, n, i)
	return k
}
