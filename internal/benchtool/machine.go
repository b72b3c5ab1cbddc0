package main

import (
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"strings"
)

// machine describes the machine the figures were taken on, as rows of the
// report's machine table: CPU, cores, and the versions of Go, the kernel,
// redis-server and wrk.
func machine() [][2]string {
	cpu := "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		if m := regexp.MustCompile(`(?m)^model name\s*:\s*(.+)$`).FindSubmatch(b); m != nil {
			cpu = string(m[1])
		}
	}
	out := func(name string, args ...string) string {
		b, _ := exec.Command(name, args...).CombinedOutput() // wrk -v exits 1
		if first := strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]); first != "" {
			return first
		}
		return "unknown"
	}
	goVersion := out("go", "version")
	return [][2]string{
		{"CPU", cpu},
		{"cores (runtime.NumCPU)", strconv.Itoa(runtime.NumCPU())},
		{"Go", goVersion},
		{"kernel", out("uname", "-sr")},
		{"redis-server", out("redis-server", "--version")},
		{"wrk", strings.TrimSuffix(out("wrk", "-v"), " [epoll] Copyright (C) 2012 Will Glozer")},
	}
}
