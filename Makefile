# Shortcuts; the scripts are the source of truth.
.PHONY: run test build build-go bench flood chaos

# Run Caddy with the example config (go run: no separate build step).
run:
	go run ./cmd/caddy run --config Caddyfile.example --adapter caddyfile

# Everything CI runs: vet, gofmt, unit and end-to-end tests.
test:
	./scripts/test

# bin/caddy via xcaddy, pinned by go.mod and scripts/build (as users build it).
build:
	./scripts/build

# bin/caddy via go build ./cmd/caddy (faster).
build-go:
	./scripts/build --go

# Benchmarks (scripts/bench).
bench:
	./scripts/bench

# The flood test with 30 s phases (CI runs 3 s ones): what an
# unauthenticated and an authenticated client can store per route kind.
flood:
	FLOOD_SECONDS=30 go test -count=1 -v -timeout 30m -run '^TestFlood$$' ./tests

# Chaos test: 10 minutes of faults (at least 100) on Redis and Caddy under a
# stream of revocations and checks; prints operations, faults, violations.
# (CI runs the same test for 90s as part of `make test`.)
chaos:
	CHAOS_DURATION=10m CHAOS_MIN_FAULTS=100 ./scripts/test -run '^TestChaos$$' -v -timeout 40m ./tests
