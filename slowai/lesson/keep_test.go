package lesson

import (
	"testing"
)

type kept struct {
	Name   string
	Images [][]float32
	Steps  []int
}

// Keep computes a value once per notebook run and reads it back in later "cells" (calls).
func TestKeepCarriesValues(t *testing.T) {
	t.Setenv("GONB_TMP_DIR", t.TempDir())
	calls := 0
	make1 := func() kept {
		calls++
		return kept{Name: "a", Images: [][]float32{{1, 2}, {3.5}}, Steps: []int{980, 0}}
	}
	first := Keep("k", make1)
	second := Keep("k", func() kept { t.Fatal("recomputed a kept value"); return kept{} })
	if calls != 1 || second.Name != "a" || len(second.Images) != 2 || second.Images[1][0] != 3.5 || second.Steps[0] != 980 {
		t.Fatalf("calls %d, first %+v, second %+v", calls, first, second)
	}
	if err := Forget("k"); err != nil {
		t.Fatal(err)
	}
	Keep("k", make1)
	if calls != 2 {
		t.Fatalf("Forget did not drop the value: %d calls", calls)
	}
}

// Outside a notebook nothing is stored: every call computes.
func TestKeepOutsideNotebook(t *testing.T) {
	t.Setenv("GONB_TMP_DIR", "")
	n := 0
	Keep("x", func() int { n++; return n })
	if got := Keep("x", func() int { n++; return n }); got != 2 {
		t.Fatalf("got %d, want a fresh computation (2)", got)
	}
}
