//go:build unix

package main

import (
	"os/exec"
	"syscall"
)

// setProcessGroup makes a timeout kill nbconvert together with the kernel and the cell's
// program it started, instead of leaving them running.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}
