//go:build !linux

package tests

import (
	"os"
	"syscall"
)

// oracleProcAttr: nothing special off Linux (see the Linux version).
func oracleProcAttr() *syscall.SysProcAttr { return nil }

// killOracle kills the oracle's process.
func killOracle(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
	}
}
