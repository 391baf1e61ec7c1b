//go:build tools

// Package tools pins the command-line tools the course needs (the GoNB Jupyter kernel,
// goimports and gopls, which GoNB calls), so `make setup` installs the exact versions
// with `go install` from this module instead of `go install pkg@version`.
package tools

import (
	_ "github.com/janpfeifer/gonb"
	_ "golang.org/x/tools/cmd/goimports"
	_ "golang.org/x/tools/gopls"
)
