package schedulers

import (
	"fmt"
	"testing"
)

func TestGolden(t *testing.T) {
	n := 0
	err := CheckGolden("testdata/schedulers", func(name string, maxErr, tol float64, pass bool) {
		n++
		line := fmt.Sprintf("%-45s max err %.3g (tol %.0g)", name, maxErr, tol)
		if !pass {
			t.Error("FAIL " + line)
		} else {
			t.Log(line)
		}
	})
	if err != nil {
		t.Error(err)
	}
	t.Logf("%d comparisons", n)
}
