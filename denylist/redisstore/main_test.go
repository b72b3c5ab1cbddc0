package redisstore

import (
	"os"
	"testing"
	"time"
)

// TestMain gives the stores this package's tests open a FailTimeout of 10
// seconds where they set none: CI runs these tests beside the end-to-end
// suite on a 2-core machine, where a look-up slower than the default
// 100 ms is load, not a fault (TestRedisCompact/3 failed so, "context
// deadline exceeded"). The tests of the bound itself set FailTimeout.
func TestMain(m *testing.M) {
	defaultFailTimeout = 10 * time.Second
	os.Exit(m.Run())
}
