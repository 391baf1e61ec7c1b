package lesson01a

import (
	"math"
	"testing"

	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/exercises"
)

const file = "slowai/exercises/lesson01a/exercises.go: "

func TestGuide(t *testing.T) {
	exercises.Check(t, file+"Guide", func(t *testing.T) {
		u, c := []float32{1, 0, -1}, []float32{2, 0.5, -1}
		if got := Guide(u, c, 1); !exercises.Close(got, c, 1e-6) {
			t.Errorf("g = 1 must give the conditional prediction: %v", got)
		}
		if got := Guide(u, c, 0); !exercises.Close(got, u, 1e-6) {
			t.Errorf("g = 0 must give the unconditional prediction: %v", got)
		}
		if got := Guide(u, c, 7.5); !exercises.Close(got, []float32{8.5, 3.75, -1}, 1e-5) {
			t.Errorf("g = 7.5: %v, want [8.5 3.75 -1]", got)
		}
	})
}

func TestStepsRun(t *testing.T) {
	exercises.Check(t, file+"StepsRun", func(t *testing.T) {
		for _, c := range []struct {
			n    int
			s    float64
			want int
		}{{10, 0.55, 5}, {10, 0, 0}, {10, 1, 10}, {6, 0.6, 3}, {30, 0.8, 24}} {
			if got := StepsRun(c.n, c.s); got != c.want {
				t.Errorf("StepsRun(%d, %v) = %d, want %d", c.n, c.s, got, c.want)
			}
		}
	})
}

func TestNoiseForms(t *testing.T) {
	exercises.Check(t, file+"NoiseSigma, NoiseAlphaBar, SigmaOf", func(t *testing.T) {
		x0, eps := []float32{0.5, -1, 2}, []float32{1, 0.3, -0.7}
		if got := NoiseSigma(x0, eps, 2); !exercises.Close(got, []float32{2.5, -0.4, 0.6}, 1e-6) {
			t.Errorf("NoiseSigma: %v", got)
		}
		// Against the library's forward process, at a timestep of SD's schedule.
		s := diffusion.ScaledLinearSchedule(1000, 0.00085, 0.012)
		want, err := s.QSample(x0, eps, 500)
		if err != nil {
			t.Fatal(err)
		}
		abar := s.AlphaBars[500]
		if got := NoiseAlphaBar(x0, eps, abar); !exercises.Close(got, want, 1e-5) {
			t.Errorf("NoiseAlphaBar: %v, want %v", got, want)
		}
		if got, want := SigmaOf(abar), s.Sigma(500); math.Abs(got-want) > 1e-9*want {
			t.Errorf("SigmaOf(ᾱ_500) = %v, the schedule's σ is %v", got, want)
		}
		scaled := NoiseAlphaBar(x0, eps, abar)
		for i := range scaled {
			scaled[i] /= float32(math.Sqrt(abar))
		}
		if !exercises.Close(scaled, NoiseSigma(x0, eps, SigmaOf(abar)), 1e-5) {
			t.Errorf("the two forms disagree after dividing by √ᾱ")
		}
	})
}
