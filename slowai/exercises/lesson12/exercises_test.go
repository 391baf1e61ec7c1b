package lesson12

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/augment"
	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/exercises"
)

const file = "slowai/exercises/lesson12/exercises.go: "

// TestShiftImage compares every shift of a 4×5 image with the library's engine-side Shift.
func TestShiftImage(t *testing.T) {
	exercises.Check(t, file+"ShiftImage", func(t *testing.T) {
		const h, w = 4, 5
		img := make([]float32, h*w)
		for i := range img {
			img[i] = float32(i + 1)
		}
		var dys, dxs []int32
		var flat []float32
		for dy := -2; dy <= 2; dy++ {
			for dx := -3; dx <= 3; dx++ {
				dys, dxs, flat = append(dys, int32(dy)), append(dxs, int32(dx)), append(flat, img...)
			}
		}
		be, err := backend.New()
		if err != nil {
			t.Fatal(err)
		}
		out, err := model.ExecOnce(be, model.NewStore(), func(_ *model.Scope, in []*graph.Node) *graph.Node {
			return augment.Shift(in[0], in[1], in[2])
		}, tensors.FromFlatDataAndDimensions(flat, len(dys), 1, h, w), tensors.FromValue(dys), tensors.FromValue(dxs))
		if err != nil {
			t.Fatal(err)
		}
		want := tensors.MustCopyFlatData[float32](out)
		for i := range dys {
			got := ShiftImage(img, h, w, int(dys[i]), int(dxs[i]))
			if !slices.Equal(got, want[i*h*w:(i+1)*h*w]) {
				t.Fatalf("ShiftImage(dy=%d, dx=%d) = %v, want %v", dys[i], dxs[i], got, want[i*h*w:(i+1)*h*w])
			}
		}
	})
}

// TestDropout checks the rule value by value and against module.Dropout's scale.
func TestDropout(t *testing.T) {
	exercises.Check(t, file+"Dropout", func(t *testing.T) {
		got := Dropout([]float32{1, 2, 3, 4}, []float32{0.1, 0.5, 0.25, 0.9}, 0.25)
		if !exercises.Close(got, []float32{0, 2 / 0.75, 3 / 0.75, 4 / 0.75}, 1e-6) {
			t.Errorf("Dropout = %v, want [0 2.667 4 5.333]: u = 0.25 is not below p = 0.25, so that value is kept", got)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		x, u := make([]float32, 10000), make([]float32, 10000)
		for i := range x {
			x[i], u[i] = 1, rng.Float32()
		}
		sum := 0.0
		for _, y := range Dropout(x, u, 0.4) {
			sum += float64(y)
		}
		if mean := sum / 10000; mean < 0.95 || mean > 1.05 {
			t.Errorf("mean of Dropout(ones, p=0.4) = %.3f, want about 1: the scale keeps the expected value", mean)
		}
	})
}

// TestFlipTTA: an image and its mirror get the same class, and a lopsided case by hand.
func TestFlipTTA(t *testing.T) {
	exercises.Check(t, file+"FlipTTA", func(t *testing.T) {
		const h, w = 2, 3
		// class 0 likes a bright left column, class 1 a bright right column, class 2 the middle one.
		probs := func(img []float32) []float64 {
			var l, m, r float64
			for row := range h {
				l, m, r = l+float64(img[row*w]), m+float64(img[row*w+1]), r+float64(img[row*w+2])
			}
			s := l + m + r
			s += 0.2 * m
			return []float64{l / s, r / s, 1.2 * m / s}
		}
		img := []float32{0.9, 0.5, 0.1, 0.8, 0.5, 0.2}
		// Column sums 1.7, 1.0, 0.3: on its own the image is class 0 (score 1.7 against 1.2 and 0.3);
		// averaged with its mirror, left and right both score 1.0 and the middle's 1.2 wins.
		if got := FlipTTA(probs, img, h, w); got != 2 {
			t.Errorf("FlipTTA = %d, want 2: averaged with its mirror, the image is as bright left as right", got)
		}
		rng := rand.New(rand.NewPCG(3, 3))
		for range 20 {
			a := make([]float32, h*w)
			for i := range a {
				a[i] = rng.Float32() + 0.01
			}
			m := []float32{a[2], a[1], a[0], a[5], a[4], a[3]}
			if FlipTTA(probs, a, h, w) != FlipTTA(probs, m, h, w) {
				t.Fatalf("FlipTTA(%v) differs from FlipTTA of its mirror", a)
			}
		}
	})
}
