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
// was built on and no benchmark workload id (W1–W7 belong in slowai/backend/PERFORMANCE.md).
func TestStudentTextNamesNoMachine(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	bad := regexp.MustCompile(`/work/|/root/|/home/[a-z]|\bW[1-9]\b`)
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

// A cell shows the lesson's idea, not plumbing: no code cell is much over 30 lines, except the
// ones that show the code being taught (marked //slowai:same).
func TestCodeCellsAreShort(t *testing.T) {
	const limit = 35
	paths, err := filepath.Glob(filepath.Join("..", "..", "..", "notebooks", "*.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		nb, err := parseNotebook(p, raw)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range nb.Cells {
			src := strings.TrimRight(string(c.Source), "\n")
			if n := strings.Count(src, "\n") + 1; c.CellType == "code" && n > limit && !strings.Contains(src, sameDirective) {
				t.Errorf("%s cell %d (%q) has %d lines; move plumbing into the library (limit %d)", p, i+1, firstCodeLine(src), n, limit)
			}
		}
	}
}
