//go:build !linux

package tests

import "syscall"

func procAttr() *syscall.SysProcAttr { return nil }

// procAttrAs is procAttr: the process runs as the test's user.
func procAttrAs(uid, gid uint32) *syscall.SysProcAttr { return nil }
