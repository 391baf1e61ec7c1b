package backend

import (
	"strings"
	"testing"
)

// Choice is what a rendered page shows: the engine New picks and a reason naming no path.
func TestChoiceNamesNoPath(t *testing.T) {
	engine, why := Choice()
	name, _ := choose()
	if want, _, _ := parseName(name); engine != want {
		t.Errorf("Choice engine %q, New would pick %q", engine, want)
	}
	if why == "" || strings.ContainsAny(why, "/\\") {
		t.Errorf("Choice reason %q: want a non-empty reason with no file path", why)
	}
	t.Setenv(EnvBackend, "go")
	if engine, why := Choice(); engine != Go || !strings.Contains(why, "SLOWAI_BACKEND=go") {
		t.Errorf("with SLOWAI_BACKEND=go: Choice = %q, %q", engine, why)
	}
}
