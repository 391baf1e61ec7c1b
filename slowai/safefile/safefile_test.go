package safefile

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// TestWrite replaces a file's contents and leaves no temporary file behind; a write into a
// missing directory fails without creating anything.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "f.bin")
	for _, want := range []string{"first", "second, longer"} {
		if err := Write(path, []byte(want)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != want {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only f.bin", len(entries))
	}
	if err := Write(filepath.Join(dir, "missing", "f.bin"), []byte("x")); err == nil {
		t.Error("write into a missing directory succeeded")
	}
}

// WithUmask runs f with the process umask set to mask (tests only: the umask is process-wide).
func withUmask(mask int, f func()) {
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	f()
}

// TestModeFollowsUmask: the file gets 0666 less the umask, as os.Create would give it.
func TestModeFollowsUmask(t *testing.T) {
	for _, c := range []struct{ umask, want int }{{0o022, 0o644}, {0o002, 0o664}, {0o077, 0o600}} {
		path := filepath.Join(t.TempDir(), "f")
		withUmask(c.umask, func() {
			if err := Write(path, []byte("x")); err != nil {
				t.Fatal(err)
			}
		})
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := int(st.Mode().Perm()); got != c.want {
			t.Errorf("umask %03o: mode %03o, want %03o", c.umask, got, c.want)
		}
	}
}

// TestRemovesDeadWritersFiles: a temporary file left by a process that has exited is removed by
// the next write of the same name; a live process's file and other names are kept; Abort removes
// its own file.
func TestRemovesDeadWritersFiles(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Skip("cannot start a process:", err)
	}
	deadPID := cmd.Process.Pid
	dir := t.TempDir()
	dead := filepath.Join(dir, ".f.png.tmp-"+strconv.Itoa(deadPID)+"-abc")
	live := filepath.Join(dir, ".f.png.tmp-1-abc") // pid 1 always exists
	other := filepath.Join(dir, ".g.png.tmp-"+strconv.Itoa(deadPID)+"-abc")
	for _, p := range []string{dead, live, other} {
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := Write(filepath.Join(dir, "f.png"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !os.IsNotExist(err) {
		t.Errorf("the dead writer's %s is still there", dead)
	}
	for _, p := range []string{live, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s was removed: %v", p, err)
		}
	}
	f, err := Create(filepath.Join(dir, "h"))
	if err != nil {
		t.Fatal(err)
	}
	f.Abort()
	if _, err := os.Stat(f.Name()); !os.IsNotExist(err) {
		t.Errorf("Abort left %s", f.Name())
	}
}
