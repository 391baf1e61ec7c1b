// Package safefile writes files so that a reader never sees a half-written one: the bytes go to
// a temporary file in the same directory, which is flushed to disk and then renamed over the
// target. Every file the course writes for keeps (PNGs, checkpoints, exported models, cache
// entries) goes through it.
//
// The file gets the mode a plain os.Create would give it (0666 less the umask: 0644 under the
// usual 022), not os.CreateTemp's 0600, so other users of a shared cache can read it. Temporary
// files are named .NAME.tmp-PID-RANDOM; one left by a writer that was killed (kill -9, power
// loss) is removed by the next write of the same NAME, once its process is gone.
package safefile

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// File is a temporary file that becomes the target on Commit. Write to it (and read it back)
// like an *os.File.
type File struct {
	*os.File
	path string
	done bool
}

// Create starts writing path: it opens a new temporary file next to it, after removing the
// temporary files of earlier writers of path whose process no longer exists. Call Commit to put
// the file in place, or Abort (safe to defer) to drop it.
func Create(path string) (*File, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	removeDead(dir, base)
	var rnd [6]byte
	for range 10 {
		rand.Read(rnd[:])
		tmp := filepath.Join(dir, tempPrefix(base)+strconv.Itoa(os.Getpid())+"-"+hex.EncodeToString(rnd[:]))
		// O_EXCL: never reuse a name; 0666: the kernel applies the umask, as for os.Create.
		f, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return &File{File: f, path: path}, nil
	}
	return nil, fmt.Errorf("safefile: no free temporary name next to %s", path)
}

// Path is the final name the file will have.
func (f *File) Path() string { return f.path }

// Commit flushes the data to disk (so a crash right after cannot leave an empty file under the
// real name), closes the file and renames it over the target. On failure the temporary file is
// removed and the target is left as it was.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("safefile: %s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.Name()
	err := f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	syncDir(filepath.Dir(f.path))
	return nil
}

// Abort closes and removes the temporary file; after Commit it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// Write writes b to path through a temporary file next to it and a rename. On failure the
// temporary file is removed and path is left as it was.
func Write(path string, b []byte) error {
	f, err := Create(path)
	if err != nil {
		return err
	}
	if _, err := f.File.Write(b); err != nil {
		f.Abort()
		return err
	}
	return f.Commit()
}

func tempPrefix(base string) string { return "." + base + ".tmp-" }

// removeDead deletes dir/.BASE.tmp-PID-* files whose writer process has exited. Only names in
// this package's pattern are touched, and a live writer's file is left alone.
func removeDead(dir, base string) {
	prefix := tempPrefix(base)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		pidStr, _, ok := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if !ok || err != nil || pid <= 0 || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		os.Remove(filepath.Join(dir, e.Name()))
	}
}

// syncDir flushes a directory's entries so that a rename survives a crash; best effort, since
// some file systems do not support it.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
