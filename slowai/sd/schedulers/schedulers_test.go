package schedulers

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/safetensors"
)

func mustNew(t *testing.T, name string, cfg Config) Scheduler {
	t.Helper()
	s, err := New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConfigErrors(t *testing.T) {
	sd := StableDiffusionV1()
	with := func(k string, v any) Config {
		c := Config{}
		for key, val := range sd {
			c[key] = val
		}
		c[k] = v
		return c
	}
	for _, c := range []struct {
		name string
		cfg  Config
		want string // substring of the error
	}{
		{"heun", sd, "unknown scheduler"},
		{"lms", with("beta_schedule", "sigmoid"), "beta_schedule"},
		{"ddim", with("beta_start", "0.1"), "beta_start"},
		{"ddim", with("num_train_timesteps", 10.5), "num_train_timesteps"},
		{"ddim", with("thresholding", true), "thresholding"},
		{"euler", with("use_karras_sigmas", true), "use_karras_sigmas"},
		{"euler", with("interpolation_type", "log_linear"), "interpolation_type"},
		{"pndm", with("skip_prk_steps", false), "skip_prk_steps"},
		{"pndm", with("prediction_type", "sample"), "prediction_type"},
		{"ddpm", with("variance_type", "learned_range"), "variance_type"},
		{"ddim", with("timestep_spacing", "karras"), "timestep_spacing"},
		{"lms", with("trained_betas", []any{0.1, 0.2}), "trained_betas"},
		{"lms", with("trained_betas", []any{"a"}), "trained_betas[0]"},
	} {
		_, err := New(c.name, c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%q) with bad %s: error %v", c.name, c.want, err)
		}
	}
	// Keys a scheduler does not use are ignored, like diffusers' from_config.
	if _, err := New("lms", with("skip_prk_steps", false)); err != nil {
		t.Errorf("unused key rejected: %v", err)
	}
	if _, err := LoadConfig("testdata/nope.json"); err == nil || !strings.Contains(err.Error(), "nope.json") {
		t.Errorf("missing file: %v", err)
	}
	bad := filepath.Join(t.TempDir(), "bad.json")
	os.WriteFile(bad, []byte("[1,2]"), 0o644)
	if _, err := LoadConfig(bad); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("non-object JSON: %v", err)
	}
	if _, err := NewFromConfig(sd); err == nil {
		t.Error("config without _class_name accepted by NewFromConfig")
	}
}

func TestNewFromConfig(t *testing.T) {
	for _, name := range Names() {
		cfg, err := LoadConfig(filepath.Join("testdata/schedulers", name, "config.json"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewFromConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := strings.ToLower(fmt.Sprintf("%T", s)); !strings.Contains(strings.ReplaceAll(got, "ancestral", "_ancestral"), name) {
			t.Errorf("%s config built %T", name, s)
		}
	}
}

// TestTimestepSpacings checks diffusers' three spacings against values worked out by hand.
func TestTimestepSpacings(t *testing.T) {
	base := Config{"num_train_timesteps": 1000, "steps_offset": 1, "skip_prk_steps": true}
	with := func(spacing string) Config {
		c := Config{"timestep_spacing": spacing}
		for k, v := range base {
			c[k] = v
		}
		return c
	}
	for _, c := range []struct {
		name, spacing string
		n             int
		want          string
	}{
		{"ddim", "linspace", 10, "[999 888 777 666 555 444 333 222 111 0]"},
		{"ddim", "leading", 10, "[901 801 701 601 501 401 301 201 101 1]"},
		{"ddim", "trailing", 10, "[999 899 799 699 599 499 399 299 199 99]"},
		{"ddpm", "trailing", 4, "[999 749 499 249]"},
		{"euler", "leading", 4, "[751 501 251 1]"},
		{"euler", "linspace", 4, "[999 666 333 0]"},
		{"lms", "trailing", 5, "[999 799 599 399 199]"},
		{"pndm", "leading", 4, "[751 501 501 251 1]"},
		{"pndm", "linspace", 4, "[999 666 666 333 0]"},
		{"pndm", "leading", 1, "[1]"},
	} {
		s := mustNew(t, c.name, with(c.spacing))
		if err := s.SetTimesteps(c.n); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(s.Timesteps()); got != c.want {
			t.Errorf("%s %s n=%d: %s, want %s", c.name, c.spacing, c.n, got, c.want)
		}
	}
	// Leading spacing makes the σ-schedulers start from sqrt(σ_max²+1) (diffusers' rule).
	e := mustNew(t, "euler", with("leading"))
	e.SetTimesteps(10)
	sg := e.(*Euler).Sigmas()[0]
	if got := e.InitNoiseSigma(); math.Abs(got-math.Sqrt(sg*sg+1)) > 1e-6*got {
		t.Errorf("leading init sigma %g, σ_max %g", got, sg)
	}
	if err := e.SetTimesteps(0); err == nil {
		t.Error("0 steps accepted")
	}
}

// TestLMSCoefficients: the exact integrals match Simpson's rule (itself exact for cubics) and,
// since the Lagrange basis sums to 1, add up to σ_{i+1} - σ_i.
func TestLMSCoefficients(t *testing.T) {
	l := mustNew(t, "lms", StableDiffusionV1()).(*LMS)
	l.SetTimesteps(20)
	sg := l.Sigmas()
	for i := 0; i < 20; i++ {
		order := min(i+1, 4)
		sum := 0.0
		for j := 0; j < order; j++ {
			basis := func(s float64) float64 {
				p := 1.0
				for m := 0; m < order; m++ {
					if m != j {
						p *= (s - sg[i-m]) / (sg[i-j] - sg[i-m])
					}
				}
				return p
			}
			a, b := sg[i], sg[i+1]
			simpson := (b - a) / 6 * (basis(a) + 4*basis((a+b)/2) + basis(b))
			c := l.Coefficient(order, i, j)
			if math.Abs(c-simpson) > 1e-12*math.Max(1, math.Abs(c)) {
				t.Errorf("step %d coefficient %d: %.15g, Simpson %.15g", i, j, c, simpson)
			}
			sum += c
		}
		if math.Abs(sum-(sg[i+1]-sg[i])) > 1e-12 {
			t.Errorf("step %d: coefficients sum to %g, want σ_{i+1}-σ_i = %g", i, sum, sg[i+1]-sg[i])
		}
	}
}

// TestLMSCoefficientsAreDiffusersQuadrature explains why exact coefficients differ from the
// golden ones by more than float64 noise: diffusers' values are exactly what a single 21-point
// Gauss–Kronrod pass gives when the integrand is evaluated in float32 (DiffusersCoefficient).
func TestLMSCoefficientsAreDiffusersQuadrature(t *testing.T) {
	cfg, _ := LoadConfig("testdata/schedulers/lms/config.json")
	for _, n := range []int{10, 30} {
		l := mustNew(t, "lms", cfg).(*LMS)
		l.SetTimesteps(n)
		f, err := safetensors.Open(fmt.Sprintf("testdata/schedulers/lms/steps_%d.safetensors", n))
		if err != nil {
			t.Fatal(err)
		}
		want, _, _ := f.Float64("lms_coeffs")
		f.Close()
		var errExact, errQuad float64
		for i := 0; i < n; i++ {
			order := min(i+1, 4)
			for j := 0; j < order; j++ {
				errQuad = math.Max(errQuad, math.Abs(l.DiffusersCoefficient(order, i, j)-want[4*i+j]))
				errExact = math.Max(errExact, math.Abs(l.Coefficient(order, i, j)-want[4*i+j]))
			}
		}
		t.Logf("steps %d: exact integral vs diffusers %.2g; float32 Gauss–Kronrod vs diffusers %.2g", n, errExact, errQuad)
		if errQuad > 1e-12 {
			t.Errorf("steps %d: emulated diffusers quadrature differs by %g", n, errQuad)
		}
		if errExact > tolLMSExact {
			t.Errorf("steps %d: exact coefficients differ by %g > %g", n, errExact, tolLMSExact)
		}
	}
}

func TestAddNoise(t *testing.T) {
	x0 := []float32{1, -2, 0.5}
	noise := []float32{0.3, 1, -1}
	for _, name := range Names() {
		s := mustNew(t, name, StableDiffusionV1())
		s.SetTimesteps(10)
		ts := s.Timesteps()
		i := 3
		got := s.AddNoise(x0, noise, ts[i])
		for k := range x0 {
			var want float64
			if sb, ok := s.(interface{ Sigmas() []float64 }); ok {
				want = float64(x0[k]) + sb.Sigmas()[i]*float64(noise[k])
			} else {
				ab := s.(interface{ AlphasCumprod() []float64 }).AlphasCumprod()[int(ts[i])]
				want = math.Sqrt(ab)*float64(x0[k]) + math.Sqrt(1-ab)*float64(noise[k])
			}
			if math.Abs(float64(got[k])-want) > 1e-5 {
				t.Errorf("%s: AddNoise[%d] = %g, want %g", name, k, got[k], want)
			}
		}
	}
}

// TestPointMassOracle runs every scheduler with the ideal noise predictor for data that is a
// single point x*: ε(x_t) = (x_t - sqrt(ᾱ)x*)/sqrt(1-ᾱ) on the UNet's (scaled) input. ε is then
// constant along the exact trajectory, so the σ-schedulers and DDPM land on x* and DDIM/PNDM on
// the point at ᾱ_0 (SD's set_alpha_to_one = false), sqrt(ᾱ_0)x* + sqrt(1-ᾱ_0)ε_0.
func TestPointMassOracle(t *testing.T) {
	star := []float32{0.5, -1, 0.25, 2}
	init := []float32{0.1, 0.7, -1.2, 0.4}
	for _, name := range Names() {
		s := mustNew(t, name, StableDiffusionV1())
		if err := s.SetTimesteps(25); err != nil {
			t.Fatal(err)
		}
		abarTab := s.(interface{ AlphasCumprod() []float64 }).AlphasCumprod()
		sig, isSigma := s.(interface{ Sigmas() []float64 })
		abarAt := func(i int) float64 {
			if isSigma {
				sg := sig.Sigmas()[i]
				return 1 / (1 + sg*sg)
			}
			return abarTab[int(s.Timesteps()[i])]
		}
		x := make([]float32, len(init))
		for k := range x {
			x[k] = float32(float64(init[k]) * s.InitNoiseSigma())
		}
		var eps0 []float64
		for i := range s.Timesteps() {
			in := s.ScaleModelInput(x, i)
			ab := abarAt(i)
			out := make([]float32, len(x))
			for k := range in {
				out[k] = float32((float64(in[k]) - math.Sqrt(ab)*float64(star[k])) / math.Sqrt(1-ab))
			}
			if i == 0 {
				for _, v := range out {
					eps0 = append(eps0, float64(v))
				}
			}
			prev, x0, err := s.Step(out, i, x)
			if err != nil {
				t.Fatal(err)
			}
			if x0 != nil && name != "ddpm" {
				for k := range x0 {
					if math.Abs(float64(x0[k]-star[k])) > 1e-4 {
						t.Fatalf("%s step %d: predicted x0 %v, want %v", name, i, x0, star)
					}
				}
			}
			x = prev
		}
		for k := range x {
			want := float64(star[k])
			if name == "ddim" || name == "pndm" {
				a0 := abarTab[0]
				want = math.Sqrt(a0)*want + math.Sqrt(1-a0)*eps0[k]
			}
			if math.Abs(float64(x[k])-want) > 1e-4 {
				t.Errorf("%s: final x[%d] = %g, want %g", name, k, x[k], want)
			}
		}
	}
}

func TestStepOrderAndNoiseErrors(t *testing.T) {
	x := []float32{1, 2}
	out := []float32{0.1, 0.2}
	for _, name := range []string{"lms", "pndm"} {
		s := mustNew(t, name, StableDiffusionV1())
		s.SetTimesteps(10)
		if _, _, err := s.Step(out, 0, x); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Step(out, 2, x); err == nil {
			t.Errorf("%s: skipped step accepted", name)
		}
		s.SetTimesteps(10) // restarting is fine
		if _, _, err := s.Step(out, 0, x); err != nil {
			t.Errorf("%s: after SetTimesteps: %v", name, err)
		}
	}
	ea := mustNew(t, "euler_ancestral", StableDiffusionV1())
	ea.SetTimesteps(10)
	ea.(NoiseSetter).SetNoise(&diffusion.Recorded{})
	if _, _, err := ea.Step(out, 0, x); err == nil {
		t.Error("euler_ancestral ran without noise")
	}
	if _, _, err := ea.Step(out[:1], 0, x); err == nil {
		t.Error("size mismatch accepted")
	}
	if _, _, err := ea.Step(out, 10, x); err == nil {
		t.Error("step index past the end accepted")
	}
}

func TestCheckGoldenBadDir(t *testing.T) {
	if err := CheckGolden(t.TempDir(), func(string, float64, float64, bool) {}); err == nil {
		t.Error("directory without index.json accepted")
	}
}

// BenchmarkLMSStep times one host-side LMS step on SD v1 512×512 latents (4×64×64).
func BenchmarkLMSStep(b *testing.B) {
	s, _ := New("lms", StableDiffusionV1())
	x := make([]float32, 4*64*64)
	out := make([]float32, len(x))
	for k := range x {
		x[k], out[k] = float32(k%7)-3, float32(k%5)-2
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%50 == 0 {
			s.SetTimesteps(50) // a fresh 50-step run; the first 3 steps use lower orders
		}
		if _, _, err := s.Step(out, i%50, x); err != nil {
			b.Fatal(err)
		}
	}
}
