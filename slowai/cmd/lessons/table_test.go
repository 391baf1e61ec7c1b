package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The course's lesson table lists every notebook, and README's table is the one generated from it.
func TestLessonTableAndReadme(t *testing.T) {
	root := filepath.Join("..", "..", "..")
	nbDir := filepath.Join(root, "notebooks")
	lessons, err := readLessonTable(filepath.Join(nbDir, "lessons.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	if len(lessons) < 25 {
		t.Errorf("only %d lessons in the table; the curriculum has 00 to 30", len(lessons))
	}
	names, err := listNotebooks(nbDir, "")
	if err != nil {
		t.Fatal(err)
	}
	if missing := untabled(lessons, names); len(missing) > 0 {
		t.Errorf("notebooks/lessons.tsv does not list %v", missing)
	}
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	written := func(stem string) bool {
		_, err := os.Stat(filepath.Join(nbDir, stem+".ipynb"))
		return err == nil
	}
	want, err := replaceReadmeTable(string(readme), readmeTable(lessons, written))
	if err != nil {
		t.Fatal(err)
	}
	if want != string(readme) {
		t.Errorf("README.md's lesson table is not the one notebooks/lessons.tsv gives; run\n\tgo run ./slowai/cmd/lessons -readme README.md")
	}
}

func TestReadLessonTableErrors(t *testing.T) {
	for name, body := range map[string]string{
		"columns":   "number\tstem\tpart\ttitle\n00\t00_a\tfoundations\n",
		"part":      "number\tstem\tpart\ttitle\n00\t00_a\tmisc\tA\n",
		"stem":      "number\tstem\tpart\ttitle\n00\tnope\tfoundations\tA\n",
		"number":    "number\tstem\tpart\ttitle\n01\t00_a\tfoundations\tA\n",
		"duplicate": "number\tstem\tpart\ttitle\n00\t00_a\tfoundations\tA\n00\t00_a\tfoundations\tB\n",
	} {
		p := filepath.Join(t.TempDir(), "lessons.tsv")
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readLessonTable(p); err == nil || !strings.Contains(err.Error(), "lessons.tsv:") {
			t.Errorf("%s: want an error naming the file and line, got %v", name, err)
		}
	}
}
