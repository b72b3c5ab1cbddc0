package tests

import "syscall"

// oracleProcAttr puts an oracle in its own process group (PHP's built-in
// server forks workers) that killOracle ends whole; the kernel kills the
// oracle if the test binary dies first.
func oracleProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killOracle kills the process group of the oracle whose process is pid.
func killOracle(pid int) { _ = syscall.Kill(-pid, syscall.SIGKILL) }
