# Shortcuts; the scripts are the source of truth.
.PHONY: run test build build-go bench bench-scale flood chaos cluster-growth fuzz-differential failmode-latency

# Run Caddy with the example config (go run: no separate build step).
run:
	go run ./cmd/caddy run --config Caddyfile.example --adapter caddyfile

# Everything CI runs: vet, gofmt, unit and end-to-end tests.
test:
	./scripts/test

# bin/caddy via xcaddy, as xcaddy.json says (as users build it).
build:
	./scripts/build

# bin/caddy via go build ./cmd/caddy (faster).
build-go:
	./scripts/build --go

# Benchmarks (scripts/bench).
bench:
	./scripts/bench

# Issue 14's scale figures (too slow for `make bench`): a 3-primary Redis
# Cluster and a standalone server of real redis-server processes; revocation
# throughput through 1 and 3 partitions, Redis and mirror bytes per entry,
# mirror load time and propagation, at TRV_SCALE live revocations (default
# 10^6: about 3 minutes; 10^7: about 15 minutes and 5 GB of memory, most of
# it the legacy layout's run; TRV_SCALE_ONLY=compact measures the compact
# layout alone, 2 minutes). TRV_SCALE_ONLY picks sections: throughput,
# layouts, memory (legacy), compact, growth (the compact layout with no
# sizing option filled to 10^3, 10^4, ... TRV_SCALE: Redis bytes per live
# revocation at each, then shrunk back as all but 10^3 expire; 10^7: about
# 20 minutes on a busy 2-core machine, 1 GB), cluster (compact over 3
# partitions of the cluster), propagation. Prints Markdown.
TRV_SCALE ?= 1000000
TRV_SCALE_ONLY ?=
bench-scale:
	TRV_SCALE=$(TRV_SCALE) TRV_SCALE_ONLY=$(TRV_SCALE_ONLY) go test -count=1 -run '^TestScale$$' -v -timeout 60m ./denylist/redisstore

# Issue 23's fail-mode latency: Redis frozen (SIGSTOP), fail_timeout
# 100ms, 40 concurrent clients x 5 rounds, check_mode direct and mirror;
# prints the p50/p99/max as the client and as Caddy's access log (the
# server side) measure them, all checks and the first round alone, with
# the load average (the target: p99 <= fail_timeout + 10ms).
failmode-latency:
	go test -count=1 -run '^TestFailModeWithinFailTimeout$$' -v ./tests

# The flood test with 30 s phases (CI runs 3 s ones): what an
# unauthenticated and an authenticated client can store per route kind.
flood:
	FLOOD_SECONDS=30 go test -count=1 -v -timeout 30m -run '^TestFlood$$' ./tests

# Chaos test: 10 minutes of faults (at least 100) on Redis and Caddy under a
# stream of revocations and checks; prints operations, faults, violations.
# (CI runs the same test for 90s as part of `make test`.)
chaos:
	CHAOS_DURATION=10m CHAOS_MIN_FAULTS=100 ./scripts/test -run '^TestChaos$$' -v -timeout 40m ./tests

# Issue 26's Cluster growth test in full: a 3-primary Redis Cluster grown to
# 6 (redis-cli --cluster add-node, rebalance --cluster-use-empty-masters:
# half of every slot moves) and shrunk back (reshard, del-node), 3 times,
# under a stream of revocations through one Caddy and checks on two; prints
# revocations acknowledged, checks, lost and un-revoked (0 and 0). About 3
# minutes a round. (CI runs one round that moves a partition's worth of
# slots to each new primary, as part of `make test`.)
CLUSTER_GROWTH_ROUNDS ?= 3
cluster-growth:
	CLUSTER_GROWTH=full CLUSTER_GROWTH_ROUNDS=$(CLUSTER_GROWTH_ROUNDS) ./scripts/test -run '^TestClusterGrowth$$' -v -timeout 60m ./tests

# Issue 22's mutation differential fuzzer for an hour (CI runs a 60 s
# smoke): mutated spellings of revoked tokens sent to every oracle directly
# and through the gateway; prints the seed, requests sent per oracle and
# every violation with its exact bytes. MUTATION_FUZZ_SEED repeats a run.
MUTATION_FUZZ_DURATION ?= 1h
fuzz-differential:
	MUTATION_FUZZ_DURATION=$(MUTATION_FUZZ_DURATION) ./scripts/test -run '^TestMutationDifferential$$' -v -timeout 90m ./tests
