//go:build !linux

package tests

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }
