package lesson

import (
	"os"
	"path/filepath"
	"testing"
)

// RepoPath must find the folder holding go.mod from a subfolder, and leave absolute paths alone.
func TestRepoPath(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "notebooks", "deep")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(sub)
	if got, want := RepoPath("data/checkpoints/x.safetensors"), filepath.Join(root, "data/checkpoints/x.safetensors"); got != want {
		t.Errorf("RepoPath(relative) = %q, want %q", got, want)
	}
	if got := RepoPath("/abs/file"); got != "/abs/file" {
		t.Errorf("RepoPath(absolute) = %q, want it unchanged", got)
	}
}
