package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/slowai-go/course/slowai/lesson"
)

// TestGoModTidy: go.mod and go.sum say exactly what the module imports (CI runs the same check).
// It works from the module cache only; if a module is missing there it skips rather than fetch.
func TestGoModTidy(t *testing.T) {
	root, err := lesson.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	goCmd, err := exec.LookPath("go")
	if err != nil {
		goCmd = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	cmd := exec.Command(goCmd, "mod", "tidy", "-diff")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOPROXY=off", "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	if s := string(out); strings.Contains(s, "GOPROXY=off") || strings.Contains(s, "module lookup disabled") {
		t.Skipf("go mod tidy needs modules that are not in the module cache:\n%s", s)
	}
	t.Errorf("go.mod is not tidy (run go mod tidy); go mod tidy -diff says:\n%s", out)
}
