package safefile

import (
	"os"
	"path/filepath"
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
