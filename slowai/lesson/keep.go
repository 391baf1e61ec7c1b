package lesson

import (
	"os"
	"path/filepath"

	"github.com/janpfeifer/gonb/cache"
)

// Every notebook cell runs as a new process, so a value computed in one cell is gone in the
// next. Keep carries it over: the first call computes it and saves it under key, later calls
// (from later cells of the same notebook run) read it back.
//
//	samples := lesson.Keep("ddim-samples", func() Samples { return sample(64) })
//
// It is GoNB's cache package (github.com/janpfeifer/gonb/cache), stored in the kernel's own
// temporary folder ($GONB_TMP_DIR): values live as long as the notebook's kernel, so a fresh run
// (or a restarted kernel) computes them again and never reads a stale value from an earlier run.
// Values are saved with encoding/gob: exported struct fields, slices, maps and numbers carry over;
// a type can choose its own encoding by implementing cache.Serializable. Outside a notebook
// (tests, go run) Keep just calls fn.
func Keep[T any](key string, fn func() T) T {
	s := keepStorage()
	if s == nil {
		return fn()
	}
	return cache.CacheWith(s, key, fn)
}

// Forget drops the value kept under key, so the next Keep computes it again.
func Forget(key string) error {
	if s := keepStorage(); s != nil {
		return s.ResetKey(key)
	}
	return nil
}

// keepStorage is the kernel session's cache folder, or nil outside GoNB.
func keepStorage() *cache.Storage {
	dir := os.Getenv("GONB_TMP_DIR")
	if dir == "" {
		return nil
	}
	return cache.MustNew(filepath.Join(dir, "slowai_keep"))
}
