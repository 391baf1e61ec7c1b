//go:build !cgo

package backend

import "errors"

// xlaPlugins always fails: the XLA engine loads its PJRT plugin through cgo.
func xlaPlugins() (string, error) {
	return "", errors.New("built without cgo, which XLA's PJRT plugins need")
}
