package lesson05

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/conv"
	"github.com/slowai-go/course/slowai/exercises"
	"github.com/slowai-go/course/slowai/nn/module"
)

const file = "slowai/exercises/lesson05/exercises.go: "

func TestOutSize(t *testing.T) {
	exercises.Check(t, file+"OutSize", func(t *testing.T) {
		for n := 1; n <= 12; n++ {
			for k := 1; k <= 5; k++ {
				for stride := 1; stride <= 3; stride++ {
					for pad := 0; pad <= 2; pad++ {
						if n+2*pad < k {
							continue
						}
						// Count the window's starting positions one by one.
						want := 0
						for p := 0; p+k <= n+2*pad; p += stride {
							want++
						}
						if got := OutSize(n, k, stride, pad); got != want {
							t.Fatalf("OutSize(n=%d, k=%d, stride=%d, pad=%d) = %d, want %d", n, k, stride, pad, got, want)
						}
					}
				}
			}
		}
	})
}

func TestConvStride(t *testing.T) {
	exercises.Check(t, file+"ConvStride", func(t *testing.T) {
		be, err := backend.New()
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(5, 6))
		for _, c := range []struct{ h, w, k, stride int }{{28, 28, 3, 1}, {28, 28, 3, 2}, {9, 7, 3, 3}, {10, 10, 4, 2}, {5, 5, 5, 1}} {
			img := make([]float32, c.h*c.w)
			kern := make([]float32, c.k*c.k)
			for i := range img {
				img[i] = float32(rng.NormFloat64())
			}
			for i := range kern {
				kern[i] = float32(rng.NormFloat64())
			}
			want, err := conv.Engine(be, img, 1, 1, c.h, c.w, kern, 1, c.k, c.stride, 0)
			if err != nil {
				t.Fatal(err)
			}
			got := ConvStride(img, c.h, c.w, kern, c.k, c.stride)
			if len(got) != len(want) {
				t.Fatalf("%+v: %d outputs, want %d (the engine's)", c, len(got), len(want))
			}
			for i := range got {
				if math.Abs(float64(got[i]-want[i])) > 1e-4 {
					t.Fatalf("%+v: output %d = %g, the engine's convolution gives %g", c, i, got[i], want[i])
				}
			}
		}
	})
}

func TestSobel(t *testing.T) {
	exercises.Check(t, file+"Sobel", func(t *testing.T) {
		gx, gy := Sobel()
		if len(gx) != 9 || len(gy) != 9 {
			t.Fatalf("kernels of %d and %d values, want 9 each", len(gx), len(gy))
		}
		// On a ramp brightening to the right by 1 per pixel, gx sees (1+2+1)·2 = 8 and gy 0;
		// on a ramp brightening downwards, the other way round.
		const n = 6
		right, down := make([]float32, n*n), make([]float32, n*n)
		for r := range n {
			for c := range n {
				right[r*n+c], down[r*n+c] = float32(c), float32(r)
			}
		}
		for _, v := range conv.Apply(right, n, n, gx, 3, 1, 0) {
			if v != 8 {
				t.Fatalf("gx on a rightward ramp gives %g, want 8", v)
			}
		}
		for _, v := range conv.Apply(down, n, n, gy, 3, 1, 0) {
			if v != 8 {
				t.Fatalf("gy on a downward ramp gives %g, want 8", v)
			}
		}
		for _, v := range append(conv.Apply(down, n, n, gx, 3, 1, 0), conv.Apply(right, n, n, gy, 3, 1, 0)...) {
			if v != 0 {
				t.Fatalf("a Sobel kernel responds %g across its direction, want 0", v)
			}
		}
		// A single bright pixel shows the kernel itself, turned half a turn: the middle weighs twice.
		impulse := make([]float32, 25)
		impulse[12] = 1
		resp := conv.Apply(impulse, 5, 5, gx, 3, 1, 0)
		want := []float32{1, 0, -1, 2, 0, -2, 1, 0, -1}
		for i := range want {
			if resp[i] != want[i] {
				t.Fatalf("gx's response to a single bright pixel is %v, want %v", resp, want)
			}
		}
	})
}

func TestCNNParams(t *testing.T) {
	exercises.Check(t, file+"CNNParams", func(t *testing.T) {
		s := &module.Specs{}
		conv.SimpleCNN(s)
		if got, want := CNNParams([]int{1, 4, 8, 16, 16, 10}, 3), int(s.NumParams()); got != want {
			t.Errorf("CNNParams(1-4-8-16-16-10, 3) = %d, the lesson's CNN has %d", got, want)
		}
		if got := CNNParams([]int{3, 64}, 7); got != 3*64*49+64 {
			t.Errorf("CNNParams(3-64, 7) = %d, want %d", got, 3*64*49+64)
		}
	})
}
