// Package safefile writes files so that a reader never sees a half-written one: the bytes go to
// a temporary file in the same directory, which is then renamed over the target.
package safefile

import (
	"os"
	"path/filepath"
)

// Write writes b to path through a temporary file next to it and a rename. On failure the
// temporary file is removed and path is left as it was.
func Write(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
