package redisstore

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddy-token-revocation/caddy-token-revocation/denylist"
	"github.com/caddy-token-revocation/caddy-token-revocation/denylist/storetest"
	"github.com/caddy-token-revocation/caddy-token-revocation/internal/redistest"
)

// freeze stops srv's process (SIGSTOP) until the returned func, or the
// test's end, resumes it.
func freeze(t *testing.T, srv *redistest.Server) (resume func()) {
	t.Helper()
	info, err := srv.Client().Info(context.Background(), "server").Result()
	if err != nil {
		t.Fatal(err)
	}
	pid := 0
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			pid, _ = strconv.Atoi(v)
		}
	}
	if pid == 0 {
		t.Fatalf("no process_id in INFO server of %s", srv.Addr)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resume = func() { _ = syscall.Kill(pid, syscall.SIGCONT) }
	t.Cleanup(resume)
	return resume
}

// TestCheckFailsAtOnceWhileRedisDoesNotAnswer: once a check went
// unanswered for fail_timeout (Redis frozen), the next checks fail with
// ErrUnavailable without asking Redis while one check (the probe) asks it;
// a check whose caller gave up does not count as unanswered; the first
// answer after Redis resumes lets every check ask it again. Before the
// breaker, every check waited fail_timeout on the frozen Redis.
func TestCheckFailsAtOnceWhileRedisDoesNotAnswer(t *testing.T) {
	srv := redistest.Start(t)
	s, err := openRedis(context.Background(), RedisOptions{Addrs: []string{srv.Addr}, FailTimeout: 300 * time.Millisecond}, storetest.NewClock().Now, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	q := storetest.NewQuery(storetest.T0, storetest.TokenKey("a"))
	check := func(ctx context.Context) error {
		_, err := s.Check(ctx, q)
		return err
	}
	if err := check(context.Background()); err != nil {
		t.Fatal(err)
	}
	resume := freeze(t, srv)

	// The caller gives up first: not Redis's silence.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	err = check(ctx)
	cancel()
	if !errors.Is(err, denylist.ErrUnavailable) || errors.Is(err, errRedisNotAnswering) {
		t.Fatalf("check abandoned by its caller: %v", err)
	}
	if s.breaker.open.Load() {
		t.Fatal("a check abandoned by its caller opened the breaker")
	}

	// Unanswered for fail_timeout: it asked Redis, and opens the breaker.
	if err := check(context.Background()); !errors.Is(err, denylist.ErrUnavailable) || errors.Is(err, errRedisNotAnswering) {
		t.Fatalf("first check on the frozen redis: %v, want ErrUnavailable from asking redis", err)
	}

	// While a probe asks the frozen Redis, the other checks fail at once.
	shed := false
	for attempt := 0; attempt < 20 && !shed; attempt++ {
		probe := make(chan error, 1)
		go func() { probe <- check(context.Background()) }()
		deadline := time.Now().Add(10 * time.Second)
		for !s.breaker.probing.Load() && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		err := check(context.Background())
		if errors.Is(err, errRedisNotAnswering) && errors.Is(err, denylist.ErrUnavailable) {
			shed = true
		}
		if perr := <-probe; !errors.Is(perr, denylist.ErrUnavailable) || errors.Is(perr, errRedisNotAnswering) {
			t.Fatalf("the probe: %v, want ErrUnavailable from asking redis", perr)
		}
	}
	if !shed {
		t.Fatal("no check failed at once while the probe asked the frozen redis")
	}
	sctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	st := s.Status(sctx)
	cancel()
	if st.Details["not_answering"] != true {
		t.Errorf("status while redis does not answer: %+v, want not_answering", st.Details)
	}

	// Redis answers again: the next probe closes the breaker.
	resume()
	deadline := time.Now().Add(10 * time.Second)
	for check(context.Background()) != nil {
		if time.Now().After(deadline) {
			t.Fatal("checks still fail 10s after redis resumed")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.breaker.open.Load() {
		t.Fatal("the breaker stayed open after redis answered")
	}
}

// TestBreakerOpensOnlyWhenRedisAnsweredNothing: a read that timed out
// opens the breaker only when Redis answered nothing since it began: a
// slow Redis that answers other reads meanwhile (a loaded machine) is not
// a silent one, and its checks keep asking it.
func TestBreakerOpensOnlyWhenRedisAnsweredNothing(t *testing.T) {
	var b readBreaker
	ctx := context.Background()
	began := time.Since(breakerEpoch)
	b.answered() // another read, answered while this one waited
	b.leave(ctx, began, false, false, context.DeadlineExceeded)
	if b.open.Load() {
		t.Fatal("opened although redis answered another read meanwhile")
	}
	b.leave(ctx, time.Since(breakerEpoch), false, false, context.DeadlineExceeded)
	if !b.open.Load() {
		t.Fatal("not opened by a read that redis left unanswered, nothing answered since it began")
	}
	if ask, probe := b.enter(); !ask || !probe {
		t.Fatalf("open breaker: enter = %v, %v; want the probe", ask, probe)
	}
	if ask, _ := b.enter(); ask {
		t.Fatal("open breaker, probe in flight: another read may ask redis")
	}
	b.leave(ctx, time.Since(breakerEpoch), true, false, nil)
	if b.open.Load() || b.probing.Load() {
		t.Fatal("the probe was answered: the breaker should be closed, the probe released")
	}
}
