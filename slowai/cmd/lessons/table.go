package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// The course's one list of lessons is notebooks/lessons.tsv: number, file stem, part, title. The
// index page and README's lesson table are both built from it, so they cannot drift apart.

// courseParts are the parts of the course, in the order the index shows them.
var courseParts = []string{"foundations", "training", "diffusion", "Stable Diffusion"}

// courseLesson is one row of the table.
type courseLesson struct {
	Number, Stem, Part, Title string
}

var stemRe = regexp.MustCompile(`^[0-9]{2}[0-9a-z]*_[A-Za-z0-9_.-]+$`)

// readLessonTable reads and checks the table: four tab-separated columns, a known part, a stem
// like the notebooks' file names and each stem once. Lines starting with # are comments; the
// first other line is the header.
func readLessonTable(path string) ([]courseLesson, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the lesson table: %w", err)
	}
	var out []courseLesson
	seen := map[string]bool{}
	header := true
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.HasPrefix(line, "#") || strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want 4 tab-separated columns (number, stem, part, title), got %d", path, n, len(f))
		}
		if header {
			header = false
			continue
		}
		l := courseLesson{Number: f[0], Stem: f[1], Part: f[2], Title: f[3]}
		switch {
		case !stemRe.MatchString(l.Stem):
			return nil, fmt.Errorf("%s:%d: stem %q is not NN_name", path, n, l.Stem)
		case !strings.HasPrefix(l.Stem, l.Number[:min(2, len(l.Number))]):
			return nil, fmt.Errorf("%s:%d: stem %q does not start with the lesson number %q", path, n, l.Stem, l.Number)
		case indexOf(courseParts, l.Part) < 0:
			return nil, fmt.Errorf("%s:%d: part %q, want one of %s", path, n, l.Part, strings.Join(courseParts, ", "))
		case l.Title == "":
			return nil, fmt.Errorf("%s:%d: no title", path, n)
		case seen[l.Stem]:
			return nil, fmt.Errorf("%s:%d: %s listed twice", path, n, l.Stem)
		}
		seen[l.Stem] = true
		out = append(out, l)
	}
	return out, sc.Err()
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// byPart returns the lessons grouped by part, parts in course order, lessons in table order.
func byPart(lessons []courseLesson) [][]courseLesson {
	groups := make([][]courseLesson, len(courseParts))
	for _, l := range lessons {
		i := indexOf(courseParts, l.Part)
		groups[i] = append(groups[i], l)
	}
	return groups
}

// lessonTablePath is where the table lives, beside the notebooks.
func lessonTablePath() string { return filepath.Join(*flagNotebooks, "lessons.tsv") }

// notebookExists reports whether the lesson has a notebook.
func notebookExists(stem string) bool {
	_, err := os.Stat(filepath.Join(*flagNotebooks, stem+".ipynb"))
	return err == nil
}

// untabled lists notebooks that the table does not name: each must be added to it.
func untabled(lessons []courseLesson, notebooks []string) []string {
	known := map[string]bool{}
	for _, l := range lessons {
		known[l.Stem] = true
	}
	var out []string
	for _, n := range notebooks {
		if !known[stem(n)] {
			out = append(out, n)
		}
	}
	return out
}

// Markers around README's generated lesson table.
const (
	readmeTableStart = "<!-- lessons: generated from notebooks/lessons.tsv by `go run ./slowai/cmd/lessons -readme`; do not edit -->"
	readmeTableEnd   = "<!-- end of lessons -->"
)

// readmeTable is README's lesson table: one row per lesson, by part, with whether it is written.
func readmeTable(lessons []courseLesson, written func(stem string) bool) string {
	var b strings.Builder
	b.WriteString("| # | Lesson | Part | Notebook |\n| --- | --- | --- | --- |\n")
	for _, group := range byPart(lessons) {
		for _, l := range group {
			nb := "to be written"
			if written(l.Stem) {
				nb = "[`notebooks/" + l.Stem + ".ipynb`](notebooks/" + l.Stem + ".ipynb)"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", l.Number, l.Title, l.Part, nb)
		}
	}
	return b.String()
}

// replaceReadmeTable puts table between the markers of readme.
func replaceReadmeTable(readme, table string) (string, error) {
	i := strings.Index(readme, readmeTableStart)
	j := strings.Index(readme, readmeTableEnd)
	if i < 0 || j < i {
		return "", fmt.Errorf("README.md has no lesson table markers (%q ... %q)", readmeTableStart, readmeTableEnd)
	}
	return readme[:i+len(readmeTableStart)] + "\n" + table + readme[j:], nil
}

// updateReadme rewrites README.md's lesson table from the lesson table (-readme).
func updateReadme(path string) error {
	lessons, err := readLessonTable(lessonTablePath())
	if err != nil {
		return err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replaceReadmeTable(string(b), readmeTable(lessons, notebookExists))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return writeFileAtomic(path, []byte(out))
}
