package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNotebooksShowLibraryCode is the rule itself: every //slowai:same declaration in the
// course's notebooks equals the library's.
func TestNotebooksShowLibraryCode(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	paths, err := filepath.Glob(filepath.Join(root, "notebooks", "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found (%v)", err)
	}
	for _, p := range paths {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, p)
		for _, problem := range sameCodeProblems(root, rel, raw) {
			t.Error(problem)
		}
	}
}

func fixtureProblems(t *testing.T, name string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "samecode", name))
	if err != nil {
		t.Fatal(err)
	}
	return sameCodeProblems(filepath.Join("testdata", "samecode"), name, raw)
}

// good.ipynb: an equal function (different doc comment, gofmt differences), a type, a method,
// qualified names of the package itself, a declaration from a file behind a build tag, and a
// directive after %% (main's body, not checked).
func TestSameCodeAccepts(t *testing.T) {
	for _, p := range fixtureProblems(t, "good.ipynb") {
		t.Error(p)
	}
}

// bad.ipynb: each cell breaks the rule once; the message names the cell, the directive and the
// first differing line of each side.
func TestSameCodeRejects(t *testing.T) {
	problems := fixtureProblems(t, "bad.ipynb")
	want := [][]string{
		{"bad.ipynb cell 1", "//slowai:same shapes Area", "line 3", "notebook: return r.W + r.H", "library:  return r.W * r.H"},
		{"bad.ipynb cell 2", "//slowai:same shapes Perimeter", "has no declaration Perimeter"},
		{"bad.ipynb cell 3", "//slowai:same nosuch/pkg Area", "no library package nosuch/pkg"},
		{"bad.ipynb cell 4", "//slowai:same shapes:", "want //slowai:same <package path"},
		{"bad.ipynb cell 5", "has no declaration TestOnly"},
		{"bad.ipynb cell 6", "//slowai:same shapes Rect", "line 2", "notebook: W float64", "library:  W, H float64 // sides"},
	}
	if len(problems) != len(want) {
		t.Fatalf("got %d problems, want %d:\n%s", len(problems), len(want), strings.Join(problems, "\n"))
	}
	for i, parts := range want {
		for _, part := range parts {
			if !strings.Contains(problems[i], part) {
				t.Errorf("problem %d lacks %q:\n%s", i+1, part, problems[i])
			}
		}
	}
}

func TestStripQualifier(t *testing.T) {
	raw := []byte(`{"cells":[{"cell_type":"code","source":"//slowai:same shapes Total\nfunc Total(rs []shapes.Rect, m map[shapes.Rect]*shapes.Rect) []shapes.Rect {\n\tx := shapes.Rect{W: shapes.Area(rs[0])}\n\treturn append(rs, x)\n}\n"}]}`)
	// Not equal to the library's Total, but the printed notebook side must show no qualifier.
	problems := sameCodeProblems(filepath.Join("testdata", "samecode"), "q.ipynb", raw)
	if len(problems) != 1 {
		t.Fatalf("want one difference, got %v", problems)
	}
	if !strings.Contains(problems[0], "notebook: func Total(rs []Rect, m map[Rect]*Rect) []Rect {") {
		t.Errorf("qualifiers not stripped:\n%s", problems[0])
	}
}

// TestSameCodeDotImports: the library's file dot-imports math, so the notebook's math.Sqrt reads
// as its Sqrt; another package's qualifier still counts as a difference.
func TestSameCodeDotImports(t *testing.T) {
	cell := func(body string) []byte {
		return []byte(`{"cells":[{"cell_type":"code","source":"//slowai:same shapes Diagonal\nfunc Diagonal(r shapes.Rect) float64 { return ` + body + ` }\n"}]}`)
	}
	dir := filepath.Join("testdata", "samecode")
	if p := sameCodeProblems(dir, "dot.ipynb", cell("math.Sqrt(r.W*r.W + r.H*r.H)")); len(p) != 0 {
		t.Errorf("math.Sqrt against a dot-imported Sqrt: %v", p)
	}
	if p := sameCodeProblems(dir, "dot.ipynb", cell("cmplx.Sqrt(r.W*r.W + r.H*r.H)")); len(p) != 1 {
		t.Errorf("cmplx.Sqrt is not the dot-imported math's Sqrt, want one problem, got %v", p)
	}
}
