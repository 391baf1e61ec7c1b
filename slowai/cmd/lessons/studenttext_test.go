package main

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// What a student reads (the notebooks and every README) names no folder of the machine the course
// was built on and no benchmark workload id (W1–W6 belong in slowai/backend/PERFORMANCE.md).
func TestStudentTextNamesNoMachine(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	bad := regexp.MustCompile(`/work/|/root/|/home/[a-z]|\bW[1-6]\b`)
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == ".git") {
			return filepath.SkipDir
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".ipynb") || d.Name() == "README.md") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if m := bad.FindString(line); m != "" {
				t.Errorf("%s:%d names %q: %.100s", p, i+1, m, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
