//go:build cgo

package backend

import (
	"errors"
	"slices"
	"strings"

	"github.com/gomlx/go-xla/compute/xla"
	"github.com/gomlx/go-xla/pjrt"
)

func init() {
	// go-xla downloads its PJRT plugin on first use unless told not to; New must never wait on the network.
	xla.EnableAutoInstall(false)
}

// xlaPlugins describes the installed PJRT plugins ("name=path, ..."), or says why XLA cannot start.
func xlaPlugins() (string, error) {
	found := pjrt.AvailablePlugins()
	if len(found) == 0 {
		return "", errors.New("no PJRT plugin installed")
	}
	var list []string
	for name, path := range found {
		list = append(list, name+"="+path)
	}
	slices.Sort(list)
	return strings.Join(list, ", "), nil
}
