package tests

import "syscall"

// procAttr makes the kernel kill Caddy if the test binary dies first, so a
// crashed or timed-out test run leaves no server behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}

// procAttrAs is procAttr, the process run as user uid and group gid.
func procAttrAs(uid, gid uint32) *syscall.SysProcAttr {
	a := procAttr()
	a.Credential = &syscall.Credential{Uid: uid, Gid: gid}
	return a
}
