package diffusion

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/safetensors"
)

func relErr(got, want float64) float64 { return math.Abs(got-want) / math.Max(math.Abs(want), 1e-300) }

func TestLinspace32Endpoints(t *testing.T) {
	for _, n := range []int{2, 3, 17, 20, 1000} {
		v := Linspace32(0.0001, 0.02, n)
		if v[0] != float32(0.0001) || v[n-1] != float32(0.02) {
			t.Errorf("n=%d: endpoints %v, %v", n, v[0], v[n-1])
		}
		for i := 1; i < n; i++ {
			if !(v[i] > v[i-1]) {
				t.Fatalf("n=%d: not increasing at %d", n, i)
			}
		}
	}
}

// TestAlphaBarIsProduct checks ᾱ_t against the product of 1-β over the nominal betas, computed
// independently in float64 (the float32 construction may differ by rounding only).
func TestAlphaBarIsProduct(t *testing.T) {
	lin := func(i int) float64 { return 0.0001 + (0.02-0.0001)*float64(i)/999 }
	sq := func(i int) float64 {
		a, b := math.Sqrt(0.00085), math.Sqrt(0.012)
		v := a + (b-a)*float64(i)/999
		return v * v
	}
	for name, c := range map[string]struct {
		s    *Schedule
		beta func(int) float64
	}{
		"linear":        {LinearSchedule(1000, 0.0001, 0.02), lin},
		"scaled_linear": {ScaledLinearSchedule(1000, 0.00085, 0.012), sq},
	} {
		prod := 1.0
		for i := range c.s.Betas {
			prod *= 1 - c.beta(i)
			if e := relErr(c.s.AlphaBars[i], prod); e > 1e-5 {
				t.Fatalf("%s: ᾱ[%d] = %g, product %g (rel %g)", name, i, c.s.AlphaBars[i], prod, e)
			}
			if e := relErr(c.s.AlphaBars[i], c.s.Alphas[i]*c.s.AlphaBar(i-1)); e > 1e-15 {
				t.Fatalf("%s: ᾱ[%d] != α·ᾱ[%d] (rel %g)", name, i, i-1, e)
			}
		}
	}
	ls := LinearSchedule(1000, 0.0001, 0.02)
	if math.Abs(ls.Betas[0]-0.0001) > 1e-7 || math.Abs(ls.Betas[999]-0.02) > 1e-7 {
		t.Errorf("linear betas end points %g %g", ls.Betas[0], ls.Betas[999])
	}
	// The cosine schedule's ᾱ follows cos² of the normalised time (until the 0.999 cap bites).
	cos := CosineSchedule(1000, 0.008)
	f := func(u float64) float64 { c := math.Cos((u + 0.008) / 1.008 * math.Pi / 2); return c * c }
	for _, i := range []int{0, 100, 500, 900} {
		want := f(float64(i+1)/1000) / f(0)
		if e := relErr(cos.AlphaBars[i], want); e > 1e-5 {
			t.Errorf("cosine ᾱ[%d] = %g, closed form %g", i, cos.AlphaBars[i], want)
		}
	}
}

// TestAlphaBarMatchesDiffusers: the float32 construction reproduces diffusers' table exactly.
func TestAlphaBarMatchesDiffusers(t *testing.T) {
	g := openGolden(t, "ddim", 10)
	want := g.f32("alphas_cumprod")
	s := ScaledLinearSchedule(1000, 0.00085, 0.012)
	for i := range want {
		if float32(s.AlphaBars[i]) != want[i] {
			t.Fatalf("ᾱ[%d] = %v, diffusers %v", i, float32(s.AlphaBars[i]), want[i])
		}
	}
}

// TestPosterior checks the posterior against its closed form and against conditioning the joint
// Gaussian of (x_{t'}, x_t) given x_0 directly.
func TestPosterior(t *testing.T) {
	s := LinearSchedule(1000, 0.0001, 0.02)
	for _, c := range []struct{ t, tp int }{{1, 0}, {10, 9}, {500, 499}, {999, 998}, {901, 801}, {300, 0}, {0, -1}} {
		abT, abP := s.AlphaBar(c.t), s.AlphaBar(c.tp)
		p := PosteriorBetween(abT, abP)
		if c.tp == c.t-1 {
			q := s.Posterior(c.t)
			beta, alpha := s.Betas[c.t], s.Alphas[c.t]
			// Ho et al. eq. 7 with the schedule's own β_t.
			want := Posterior{
				X0:  math.Sqrt(abP) * beta / (1 - abT),
				Xt:  math.Sqrt(alpha) * (1 - abP) / (1 - abT),
				Var: (1 - abP) / (1 - abT) * beta,
			}
			for _, d := range [][2]float64{{q.X0, want.X0}, {q.Xt, want.Xt}, {q.Var, want.Var}} {
				if relErr(d[0], d[1]) > 1e-6 {
					t.Errorf("t=%d: posterior %+v, eq. 7 gives %+v", c.t, q, want)
				}
			}
		}
		// Joint given x0: x_{t'} ~ N(√ᾱ' x0, 1-ᾱ'), x_t = √α x_{t'} + √(1-α) z with α = ᾱ/ᾱ'.
		// Condition on x_t: mean = μ1 + Σ12/Σ22 (x_t - μ2), var = Σ11 - Σ12²/Σ22.
		alpha := abT / abP
		s11 := 1 - abP
		s12 := math.Sqrt(alpha) * s11
		s22 := alpha*s11 + (1 - alpha)
		x0, xt := 0.7, -1.3
		mean := math.Sqrt(abP)*x0 + s12/s22*(xt-math.Sqrt(alpha)*math.Sqrt(abP)*x0)
		vr := s11 - s12*s12/s22
		if got := p.X0*x0 + p.Xt*xt; math.Abs(got-mean) > 1e-9 {
			t.Errorf("t=%d→%d: posterior mean %g, conditioning %g", c.t, c.tp, got, mean)
		}
		if math.Abs(p.Var-vr) > 1e-12 {
			t.Errorf("t=%d→%d: posterior var %g, conditioning %g", c.t, c.tp, p.Var, vr)
		}
	}
}

// TestQSampleMatchesChain: the closed form has the same mean and variance as running the
// one-step noising chain t times (Monte Carlo).
func TestQSampleMatchesChain(t *testing.T) {
	s := LinearSchedule(50, 0.001, 0.05)
	r := rand.New(rand.NewPCG(1, 2))
	const n, tt = 20000, 30
	x0 := float32(0.8)
	var sum, sum2 float64
	for range n {
		x := float64(x0)
		for k := 0; k <= tt; k++ {
			x = math.Sqrt(s.Alphas[k])*x + math.Sqrt(s.Betas[k])*r.NormFloat64()
		}
		sum += x
		sum2 += x * x
	}
	mean, vr := sum/n, sum2/n-(sum/n)*(sum/n)
	// The closed form with ε = 0 is the mean; with ε = 1 it is mean + std.
	m, _ := s.QSample([]float32{x0}, []float32{0}, tt)
	ms, _ := s.QSample([]float32{x0}, []float32{1}, tt)
	std := float64(ms[0] - m[0])
	if math.Abs(mean-float64(m[0])) > 4*std/math.Sqrt(n) {
		t.Errorf("chain mean %g, closed form %g", mean, m[0])
	}
	if math.Abs(vr-std*std) > 0.03*std*std {
		t.Errorf("chain variance %g, closed form %g", vr, std*std)
	}
}

func TestQSampleBatch(t *testing.T) {
	s := LinearSchedule(1000, 0.0001, 0.02)
	x0 := []float32{1, 2, 3, 4, 5, 6}
	eps := []float32{-1, 0.5, 0, 2, 1, -2}
	ts := []int{0, 500, 999}
	got, err := s.QSampleBatch(x0, eps, ts)
	if err != nil {
		t.Fatal(err)
	}
	for b, tt := range ts {
		one, _ := s.QSample(x0[2*b:2*b+2], eps[2*b:2*b+2], tt)
		for i := range one {
			want := math.Sqrt(s.AlphaBars[tt])*float64(x0[2*b+i]) + math.Sqrt(1-s.AlphaBars[tt])*float64(eps[2*b+i])
			if one[i] != got[2*b+i] || math.Abs(float64(one[i])-want) > 1e-6 {
				t.Errorf("item %d: batch %v, single %v, formula %v", b, got[2*b+i], one[i], want)
			}
		}
	}
	if _, err := s.QSampleBatch(x0, eps, []int{0, 1, 2, 3}); err == nil {
		t.Error("6 values in 4 items accepted")
	}
	if _, err := s.QSample(x0, eps, 1000); err == nil {
		t.Error("t = T accepted")
	}
	xt, e, tb, err := s.Noisify(x0, 3, rand.New(rand.NewPCG(3, 4)))
	if err != nil || len(tb) != 3 || len(e) != 6 {
		t.Fatalf("Noisify: %v %v %v", tb, e, err)
	}
	again, _ := s.QSampleBatch(x0, e, tb)
	for i := range xt {
		if xt[i] != again[i] {
			t.Fatalf("Noisify output is not QSampleBatch of its own noise")
		}
	}
}

func TestSplitRoundTrip(t *testing.T) {
	x0 := []float32{0.3, -1, 2}
	eps := []float32{1, 0.2, -0.7}
	abar := 0.37
	x := make([]float32, 3)
	mix(x, x0, eps, math.Sqrt(abar), math.Sqrt(1-abar))
	a, b := math.Sqrt(abar), math.Sqrt(1-abar)
	for _, c := range []struct {
		p   Prediction
		out func(i int) float32
	}{
		{Epsilon, func(i int) float32 { return eps[i] }},
		{PredictX0, func(i int) float32 { return x0[i] }},
		{VPrediction, func(i int) float32 { return float32(a*float64(eps[i]) - b*float64(x0[i])) }},
	} {
		out := make([]float32, 3)
		for i := range out {
			out[i] = c.out(i)
		}
		gx0, geps, err := Split(out, x, abar, c.p)
		if err != nil {
			t.Fatal(err)
		}
		for i := range x0 {
			if math.Abs(float64(gx0[i]-x0[i])) > 1e-5 || math.Abs(float64(geps[i]-eps[i])) > 1e-5 {
				t.Errorf("%s: got x0 %v eps %v, want %v %v", c.p, gx0, geps, x0, eps)
			}
		}
	}
	if _, _, err := Split(x, x, abar, "flow"); err == nil {
		t.Error("unknown prediction type accepted")
	}
}

func TestEpsLoss(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	pred := [][]float32{{1, 2, 3}, {0, -1, 0.5}}
	eps := [][]float32{{0.5, 2, 1}, {1, 1, 1}}
	want := 0.0
	for i := range pred {
		for j := range pred[i] {
			d := float64(pred[i][j] - eps[i][j])
			want += d * d
		}
	}
	want /= 6
	out, err := graph.ExecOnce(be, EpsLoss, tensors.FromValue(pred), tensors.FromValue(eps))
	if err != nil {
		t.Fatal(err)
	}
	if got := float64(out.Value().(float32)); math.Abs(got-want) > 1e-6 {
		t.Errorf("EpsLoss = %g, want %g", got, want)
	}
}

// TestSamplersRecoverPointMass: if the data is a single image x*, the ideal noise predictor is
// ε(x,t) = (x - √ᾱ_t x*)/√(1-ᾱ_t). Deterministic DDIM must land exactly on x*, and DDPM (whose
// noise is multiplied by a shrinking std) must too, up to the last step's tiny noise.
func TestSamplersRecoverPointMass(t *testing.T) {
	s := LinearSchedule(1000, 0.0001, 0.02)
	star := []float32{0.5, -0.25, 1, 0}
	model := func(x []float32, ts []int) ([]float32, error) {
		per := len(x) / len(ts)
		out := make([]float32, len(x))
		for i := range x {
			ab := s.AlphaBars[ts[i/per]]
			out[i] = float32((float64(x[i]) - math.Sqrt(ab)*float64(star[i%len(star)])) / math.Sqrt(1-ab))
		}
		return out, nil
	}
	ddim, _ := NewDDIM(s, 50, 0, nil)
	ddpm, _ := NewDDPM(s, 1000, NewGaussian(7))
	ddpm.Clip = 1
	for name, c := range map[string]struct {
		s   Sampler
		tol float64
	}{"ddim": {ddim, 1e-5}, "ddpm": {ddpm, 2e-2}} {
		steps := 0
		x, err := Sample(model, []int{2, 4}, c.s, NewGaussian(1), func(si StepInfo) {
			if si.Index != steps || si.Total != len(c.s.Timesteps()) || si.T != c.s.Timesteps()[si.Index] {
				t.Errorf("%s: callback %d got %+v", name, steps, si)
			}
			steps++
		})
		if err != nil {
			t.Fatal(err)
		}
		if steps != len(c.s.Timesteps()) {
			t.Errorf("%s: %d callbacks for %d steps", name, steps, len(c.s.Timesteps()))
		}
		for i := range x {
			if d := math.Abs(float64(x[i] - star[i%4])); d > c.tol {
				t.Fatalf("%s: x[%d] = %g, want %g", name, i, x[i], star[i%4])
			}
		}
	}
}

func TestLeadingTimesteps(t *testing.T) {
	ts, err := LeadingTimesteps(1000, 10, 1)
	if err != nil || fmt.Sprint(ts) != "[901 801 701 601 501 401 301 201 101 1]" {
		t.Errorf("LeadingTimesteps(1000,10,1) = %v, %v", ts, err)
	}
	if _, err := LeadingTimesteps(1000, 1001, 0); err == nil {
		t.Error("more steps than T accepted")
	}
}

func TestRecordedNoise(t *testing.T) {
	r := &Recorded{Draws: [][]float32{{1, 2}}}
	d := make([]float32, 2)
	if err := r.Normal(d); err != nil || d[1] != 2 {
		t.Fatalf("first draw: %v %v", d, err)
	}
	if err := r.Normal(d); err == nil {
		t.Error("exhausted recording did not fail")
	}
	if err := (&Recorded{Draws: [][]float32{{1}}}).Normal(d); err == nil {
		t.Error("size mismatch did not fail")
	}
}

// --- golden roll-outs from diffusers (see testdata/README.md) ---

type golden struct {
	t *testing.T
	f *safetensors.File
}

func openGolden(t *testing.T, name string, n int) golden {
	t.Helper()
	f, err := safetensors.Open(fmt.Sprintf("testdata/%s/steps_%d.safetensors", name, n))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return golden{t, f}
}

func (g golden) f32(name string) []float32 {
	v, _, err := g.f.Float32(name)
	if err != nil {
		g.t.Fatal(err)
	}
	return v
}

func (g golden) i64(name string) []int64 {
	v, _, err := g.f.Int64(name)
	if err != nil {
		g.t.Fatal(err)
	}
	return v
}

func maxAbs(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i]-b[i])))
	}
	return m
}

// TestGoldenRollouts: the course's DDPM and DDIM samplers, configured like Stable Diffusion's
// diffusers schedulers, reproduce diffusers' roll-outs from the recorded model outputs and noise.
func TestGoldenRollouts(t *testing.T) {
	s := ScaledLinearSchedule(1000, 0.00085, 0.012)
	for _, name := range []string{"ddpm", "ddim"} {
		for _, n := range []int{10, 30} {
			g := openGolden(t, name, n)
			ts, err := LeadingTimesteps(1000, n, 1)
			if err != nil {
				t.Fatal(err)
			}
			want := g.i64("timesteps")
			if fmt.Sprint(ts) != fmt.Sprint(want) {
				t.Fatalf("%s/%d: timesteps %v, diffusers %v", name, n, ts, want)
			}
			outs, prevs, x0s := g.f32("model_outputs"), g.f32("prev_samples"), g.f32("pred_original_samples")
			x := g.f32("sample_init")
			per := len(x)
			var sampler Sampler
			var rec *Recorded
			switch name {
			case "ddpm":
				noise, mask := g.f32("injected_noise"), g.i64("injected_noise_mask")
				rec = &Recorded{}
				for i, m := range mask {
					if m != 0 {
						rec.Draws = append(rec.Draws, noise[i*per:(i+1)*per])
					}
				}
				d, _ := NewDDPM(s, n, rec)
				d.Steps = ts
				sampler = d
			case "ddim":
				d, _ := NewDDIM(s, n, 0, nil)
				d.Steps = ts
				d.FinalAlphaBar = s.AlphaBars[0] // set_alpha_to_one = false
				sampler = d
			}
			var errPrev, errX0 float64
			for i, tt := range ts {
				prev, x0, err := sampler.Step(outs[i*per:(i+1)*per], tt, x)
				if err != nil {
					t.Fatalf("%s/%d step %d: %v", name, n, i, err)
				}
				errPrev = math.Max(errPrev, maxAbs(prev, prevs[i*per:(i+1)*per]))
				errX0 = math.Max(errX0, maxAbs(x0, x0s[i*per:(i+1)*per]))
				x = prev
			}
			if rec != nil && rec.Used() != len(rec.Draws) {
				t.Errorf("%s/%d: used %d of %d recorded draws", name, n, rec.Used(), len(rec.Draws))
			}
			t.Logf("%s/%d: max |Δprev| %.2g, max |Δx0| %.2g", name, n, errPrev, errX0)
			if errPrev > 1e-4 || errX0 > 1e-4 {
				t.Errorf("%s/%d: prev err %g, x0 err %g, want <= 1e-4", name, n, errPrev, errX0)
			}
		}
	}
}
