package lesson13

import (
	"math"
	"testing"

	"github.com/slowai-go/course/slowai/ddpm"
	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/exercises"
)

const file = "slowai/exercises/lesson13/exercises.go: "

func TestAlphaBars(t *testing.T) {
	exercises.Check(t, file+"AlphaBars", func(t *testing.T) {
		for name, s := range map[string]*diffusion.Schedule{
			"linear": diffusion.LinearSchedule(1000, 1e-4, 0.02), "cosine": diffusion.CosineSchedule(1000, 0.008)} {
			got := AlphaBars(s.Betas)
			for _, i := range []int{0, 250, 500, 999} {
				if math.Abs(got[i]-s.AlphaBars[i]) > 1e-9 {
					t.Errorf("%s: ᾱ[%d] = %v, want %v", name, i, got[i], s.AlphaBars[i])
				}
			}
		}
		// Exercise 5 of the notebook: linear ends near 4e-5, cosine at almost exactly 0.
		lin := AlphaBars(diffusion.LinearSchedule(1000, 1e-4, 0.02).Betas)[999]
		if lin < 3e-5 || lin > 5e-5 {
			t.Errorf("linear ᾱ_999 = %v, want about 4e-5", lin)
		}
	})
}

func TestQSampleAndPredictX0(t *testing.T) {
	exercises.Check(t, file+"QSample, PredictX0", func(t *testing.T) {
		s := diffusion.CosineSchedule(1000, 0.008)
		x0, eps := []float32{-1, 0, 0.5, 1}, []float32{0.3, -1.2, 2, 0.1}
		want, err := s.QSample(x0, eps, 400)
		if err != nil {
			t.Fatal(err)
		}
		xt := QSample(x0, eps, s.AlphaBars[400])
		if !exercises.Close(xt, want, 1e-6) {
			t.Fatalf("QSample = %v, library %v", xt, want)
		}
		if back := PredictX0(xt, eps, s.AlphaBars[400]); !exercises.Close(back, x0, 1e-5) {
			t.Errorf("PredictX0 with the true noise = %v, want x0 = %v", back, x0)
		}
	})
}

func TestDDIMStep(t *testing.T) {
	exercises.Check(t, file+"DDIMStep", func(t *testing.T) {
		x0, eps := []float32{0.2, -0.7, 1}, []float32{1, 0.5, -0.3}
		want := diffusion.DDIMUpdate(x0, eps, 0.3, 0, nil)
		if got := DDIMStep(x0, eps, 0.3); !exercises.Close(got, want, 1e-6) {
			t.Errorf("DDIMStep = %v, library's DDIMUpdate %v", got, want)
		}
		if got := DDIMStep(x0, eps, 1); !exercises.Close(got, x0, 1e-6) {
			t.Errorf("a step to ᾱ = 1 must land on x̂₀: %v", got)
		}
	})
}

func TestLRAt(t *testing.T) {
	exercises.Check(t, file+"LRAt", func(t *testing.T) {
		c := ddpm.TrainConfig{Steps: 1100, Warmup: 100, LR: 2e-3, MinLRFrac: 0.1}
		lr := c.LRSchedule()
		for _, s := range []int{1, 50, 100, 101, 600, 1099, 1100, 1200} {
			if got, want := LRAt(s, c.Steps, c.Warmup, c.LR, c.MinLRFrac), lr(s); math.Abs(got-want) > 1e-12 {
				t.Errorf("LRAt(%d) = %v, the trainer uses %v", s, got, want)
			}
		}
		// Exercise 4: halfway through the decay the cosine term is 1/2.
		if got := LRAt(600, 1100, 100, 1, 0.1); math.Abs(got-0.55) > 1e-12 {
			t.Errorf("middle of the decay: %v, want 0.55", got)
		}
	})
}

// A ResBlock at 64 channels from 32: GroupNorm, conv 3×3, time projection (a linear layer from the
// 128-wide embedding, i.e. a 1×1 "conv" on a 1×1 map), GroupNorm, conv 3×3, 1×1 skip conv.
func TestCountByHand(t *testing.T) {
	exercises.Check(t, file+"ConvParams, GroupNormParams", func(t *testing.T) {
		if got := ConvParams(1, 32, 3); got != 320 {
			t.Errorf("ConvParams(1, 32, 3) = %d, want 320", got)
		}
		if got := GroupNormParams(64); got != 128 {
			t.Errorf("GroupNormParams(64) = %d, want 128", got)
		}
		res := GroupNormParams(32) + ConvParams(32, 64, 3) + ConvParams(128, 64, 1) + GroupNormParams(64) +
			ConvParams(64, 64, 3) + ConvParams(32, 64, 1)
		if res != 64+18496+8256+128+36928+2112 {
			t.Errorf("ResBlock 32→64: %d parameters", res)
		}
		// The whole network's count, from the library's own spec list, starts with conv_in.
		shape := ddpm.DefaultConfig().Specs()[specIndex(t, "conv_in.weight")].Shape
		if ConvParams(1, 32, 3) != shape[0]*shape[1]*shape[2]*shape[3]+32 {
			t.Errorf("conv_in does not match the U-Net's spec")
		}
	})
}

func specIndex(t *testing.T, name string) int {
	for i, s := range ddpm.DefaultConfig().Specs() {
		if s.Name == name {
			return i
		}
	}
	t.Fatalf("no parameter %s in ddpm.DefaultConfig().Specs()", name)
	return -1
}
