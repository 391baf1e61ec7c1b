package lesson11

import (
	"testing"

	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/resnet"
)

const file = "slowai/exercises/lesson11/exercises.go: "

// TestBlockParams compares the count with the library's block, trainable parameters only.
func TestBlockParams(t *testing.T) {
	exercises.Check(t, file+"BlockParams", func(t *testing.T) {
		for _, c := range [][2]int{{1, 16}, {16, 32}, {64, 64}, {128, 256}} {
			s := &module.Specs{}
			resnet.NewResBlock(s, "b", c[0], c[1], 2, false)
			want := int(s.NumTrainable())
			if got := BlockParams(c[0], c[1]); got != want {
				t.Errorf("BlockParams(%d, %d) = %d, the library's block has %d", c[0], c[1], got, want)
			}
		}
	})
}

// TestCeilHalf follows the lesson's network from 28 down to 2.
func TestCeilHalf(t *testing.T) {
	exercises.Check(t, file+"CeilHalf", func(t *testing.T) {
		for n, want := range map[int]int{28: 14, 14: 7, 7: 4, 4: 2, 1: 1, 5: 3} {
			if got := CeilHalf(n); got != want {
				t.Errorf("CeilHalf(%d) = %d, want %d", n, got, want)
			}
		}
	})
}

func TestResidual(t *testing.T) {
	exercises.Check(t, file+"Residual", func(t *testing.T) {
		got := Residual([]float32{1, -2, 0.5, -1}, []float32{-3, 1, 0.25, 1})
		if !exercises.Close(got, []float32{0, 0, 0.75, 0}, 1e-7) {
			t.Errorf("Residual = %v, want [0 0 0.75 0]", got)
		}
	})
}
