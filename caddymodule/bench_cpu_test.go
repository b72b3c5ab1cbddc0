package caddymodule

import (
	"syscall"
	"testing"
	"time"
)

// reportCPUPerOp makes b also report "cpu-ns/op": the CPU time the process
// (GC workers included) spent per iteration, from getrusage. On a machine
// whose cores other processes share, ns/op counts the time waited for a
// core; cpu-ns/op mostly does not, so before/after comparisons stay
// readable there. Call it right after b.ResetTimer (or before b.Loop).
func reportCPUPerOp(b *testing.B) {
	start := cpuTime()
	b.Cleanup(func() {
		if b.N > 0 {
			b.ReportMetric(float64((cpuTime()-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
		}
	})
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
