package optim_test

import (
	"math"
	"strings"
	"testing"

	"github.com/slowai-go/course/slowai/optim"
)

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-12*math.Max(1, math.Abs(b)) }

// expect checks s at the given steps.
func expect(t *testing.T, name string, s optim.Schedule, want map[int]float64) {
	t.Helper()
	for step, w := range want {
		if got := s(step); !near(got, w) {
			t.Errorf("%s at step %d = %.15g, want %.15g", name, step, got, w)
		}
	}
}

func TestSimpleSchedules(t *testing.T) {
	expect(t, "Constant(3)", optim.Constant(3), map[int]float64{1: 3, 100: 3})
	expect(t, "Linear(1, 3, 5)", optim.Linear(1, 3, 5), map[int]float64{0: 1, 1: 1, 2: 1.5, 3: 2, 5: 3, 9: 3})
	expect(t, "Linear(4, 2, 1)", optim.Linear(4, 2, 1), map[int]float64{1: 4, 2: 2})
	expect(t, "Cosine(1, 0, 5)", optim.Cosine(1, 0, 5), map[int]float64{
		1: 1, 2: (1 + math.Sqrt(0.5)) / 2, 3: 0.5, 4: (1 - math.Sqrt(0.5)) / 2, 5: 0, 7: 0})
	expect(t, "Warmup(4, 2, Constant(7))", optim.Warmup(4, 2, optim.Constant(7)), map[int]float64{
		1: 0.5, 2: 1, 3: 1.5, 4: 2, 5: 7, 50: 7})
	expect(t, "Warmup(2, 1, Linear(1, 0, 3))", optim.Warmup(2, 1, optim.Linear(1, 0, 3)), map[int]float64{
		1: 0.5, 2: 1, 3: 1, 4: 0.5, 5: 0, 6: 0})
	expect(t, "Warmup(0, 1, Constant(2))", optim.Warmup(0, 1, optim.Constant(2)), map[int]float64{1: 2})
	if got := optim.Values(optim.Linear(0, 1, 3), 3); len(got) != 3 || got[0] != 0 || got[1] != 0.5 || got[2] != 1 {
		t.Errorf("Values(Linear(0, 1, 3), 3) = %v, want [0 0.5 1]", got)
	}
}

// TestCosineWarmupIsDDPMs checks CosineWarmup, step by step, against the formula slowai/ddpm's
// own trainer used before it moved onto the Learner (warm-up peak·s/warmup, then
// minFrac + (1-minFrac)·(1+cos(π·min(1, (s-warmup)/(total-warmup))))/2 of the peak), and against
// its closed form at the corners.
func TestCosineWarmupIsDDPMs(t *testing.T) {
	ddpmLR := func(lr, minFrac float64, warmup, total, s int) float64 {
		if s <= warmup {
			return lr * float64(s) / float64(warmup)
		}
		frac := math.Min(1, float64(s-warmup)/float64(max(1, total-warmup)))
		return lr * (minFrac + (1-minFrac)*0.5*(1+math.Cos(math.Pi*frac)))
	}
	for _, tc := range []struct {
		lr, minFrac   float64
		warmup, total int
	}{{2e-3, 0.05, 100, 2000}, {1e-3, 0.1, 7, 300}, {5e-3, 0.5, 10, 10}, {1, 0.05, 1, 1}} {
		s := optim.CosineWarmup(tc.lr, tc.minFrac, tc.warmup, tc.total)
		for step := 1; step <= tc.total+20; step++ {
			if got, want := s(step), ddpmLR(tc.lr, tc.minFrac, tc.warmup, tc.total, step); got != want {
				t.Fatalf("CosineWarmup(%v, %v, %d, %d)(%d) = %v, ddpm's formula gives %v",
					tc.lr, tc.minFrac, tc.warmup, tc.total, step, got, want)
			}
		}
	}
	s := optim.CosineWarmup(2, 0.05, 10, 110)
	expect(t, "CosineWarmup(2, 0.05, 10, 110)", s, map[int]float64{
		1: 0.2, 10: 2, 60: 2 * (0.05 + 0.95*0.5), 110: 0.1, 500: 0.1})
}

func TestOneCycle(t *testing.T) {
	const total, maxLR = 201, 0.4
	lr, mom := optim.OneCycle(maxLR, total, optim.OneCycleOpts{})
	peak := 51 // step 1 + 0.25·(total−1)
	expect(t, "one-cycle lr", lr, map[int]float64{
		1:         maxLR / 25,
		26:        (maxLR/25 + maxLR) / 2, // halfway up the cosine
		peak:      maxLR,
		126:       (maxLR + maxLR/1e5) / 2, // halfway down
		total:     maxLR / 1e5,
		total + 5: maxLR / 1e5,
	})
	expect(t, "one-cycle momentum", mom, map[int]float64{1: 0.95, 26: 0.9, peak: 0.85, 126: 0.9, total: 0.95})
	for step := 2; step <= total; step++ {
		dl, dm := lr(step)-lr(step-1), mom(step)-mom(step-1)
		rising := step <= peak
		if (rising && !(dl > 0 && dm < 0)) || (!rising && !(dl < 0 && dm > 0)) {
			t.Errorf("step %d: lr %+.3g, momentum %+.3g; want lr up and momentum down until step %d, then the reverse", step, dl, dm, peak)
		}
		// Mirror image: momentum is as far along its way as the learning rate.
		var fl, fm float64
		if rising {
			fl, fm = (lr(step)-maxLR/25)/(maxLR-maxLR/25), (0.95-mom(step))/0.1
		} else {
			fl, fm = (maxLR-lr(step))/(maxLR-maxLR/1e5), (mom(step)-0.85)/0.1
		}
		if math.Abs(fl-fm) > 1e-9 {
			t.Errorf("step %d: lr is %.6f of its way, momentum %.6f; want mirrored", step, fl, fm)
		}
	}
	lr, mom = optim.OneCycle(1, 11, optim.OneCycleOpts{PctStart: 0.5, DivStart: 10, DivFinal: 100, Moms: [3]float64{0.9, 0.8, 0.7}})
	expect(t, "custom one-cycle lr", lr, map[int]float64{1: 0.1, 6: 1, 11: 0.01})
	expect(t, "custom one-cycle momentum", mom, map[int]float64{1: 0.9, 6: 0.8, 11: 0.7})
}

func TestSchedulePanics(t *testing.T) {
	for name, f := range map[string]func(){
		"Linear total 0":     func() { optim.Linear(0, 1, 0) },
		"Cosine total -1":    func() { optim.Cosine(0, 1, -1) },
		"Warmup nil":         func() { optim.Warmup(3, 1, nil) },
		"OneCycle pct 1":     func() { optim.OneCycle(1, 10, optim.OneCycleOpts{PctStart: 1}) },
		"CosineWarmup total": func() { optim.CosineWarmup(1, 0.1, 2, 0) },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.Contains(r.(string), "optim.") {
					t.Errorf("%s: recovered %v, want a panic naming the function", name, r)
				}
			}()
			f()
		}()
	}
}
