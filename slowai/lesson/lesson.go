// Package lesson holds what every notebook shares: quick mode and where the repository's folders are.
package lesson

import (
	"os"
	"path/filepath"
)

// QuickEnv is the environment variable that turns on quick mode (`make lessons QUICK=1`).
const QuickEnv = "SLOWAI_QUICK"

// Quick reports whether lessons should run their fast pass: fewer steps, smaller data,
// same code. CI renders every notebook this way.
func Quick() bool {
	v := os.Getenv(QuickEnv)
	return v != "" && v != "0" && v != "false"
}

// Pick returns quick in quick mode and full otherwise, so a notebook can write
// `steps := lesson.Pick(200, 5000)`.
func Pick[T any](quick, full T) T {
	if Quick() {
		return quick
	}
	return full
}

// Must stops a notebook cell on an error: a cell has nobody to return an error to, and the
// panic shows the error (and where it happened) on the page.
func Must(err error) {
	if err != nil {
		panic(err)
	}
}

// RepoRoot walks up from the working directory to the folder holding go.mod, so notebooks
// (which run in notebooks/) and tests (which run in their package folder) find data/ and assets/.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return dir, nil
		}
	}
}

// RepoPath resolves a relative path against RepoRoot, so a command run from any folder of the
// checkout reads and writes the same data/ files; absolute paths are returned as they are.
func RepoPath(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	root, err := RepoRoot()
	if err != nil {
		return p
	}
	return filepath.Join(root, p)
}
