package schedulers

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"

	"github.com/slowai-go/course/slowai/diffusion"
	"github.com/slowai-go/course/slowai/safetensors"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// Tolerances used by CheckGolden (those suggested by the golden data's README).
const (
	tolSample   = 1e-4 // absolute: scaled inputs, prev samples, predicted x0, float timesteps
	tolRelative = 1e-6 // relative: sigmas, alphas_cumprod, scale factors, init_noise_sigma
	// tolLMS is the README's absolute tolerance for lms_coeffs, met by DiffusersCoefficient (the
	// golden values are diffusers' quad over a float32-evaluated integrand, reproduced exactly).
	tolLMS = 1e-8
	// tolLMSExact bounds the exact integrals Step uses against the same golden values: they differ
	// by diffusers' float32 rounding, up to 1.4e-7 (~2 float32 ulps of σ-sized numbers).
	tolLMSExact = 5e-7
)

// goldenIndex is the part of a golden schedulers/index.json that CheckGolden reads.
type goldenIndex struct {
	Schedulers map[string]struct {
		ClassName string `json:"class_name"`
		Files     []struct {
			File               string `json:"file"`
			NumInferenceSteps  int    `json:"num_inference_steps"`
			HasPredOriginal    bool   `json:"has_pred_original_sample"`
			TimestepsDType     string `json:"timesteps_dtype"`
			NumTimesteps       int    `json:"num_timesteps"`
			InitNoiseSigmaHint any    `json:"init_noise_sigma"`
		} `json:"files"`
	} `json:"schedulers"`
}

// CheckGolden replays every scheduler roll-out listed in dir/index.json (a golden "schedulers/"
// directory: <name>/config.json and the listed steps_N.safetensors files), feeding the recorded
// model outputs and injected noise, and calls report once per compared tensor with its maximum
// error (relative for sigmas, alphas_cumprod, scale factors and init_noise_sigma; absolute
// otherwise) and tolerance. It returns an error if the directory cannot be read or if any
// comparison failed.
func CheckGolden(dir string, report func(name string, maxErr, tol float64, pass bool)) error {
	raw, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err != nil {
		return fmt.Errorf("schedulers: golden: %w", err)
	}
	var idx goldenIndex
	if err := json.Unmarshal(raw, &idx); err != nil {
		return fmt.Errorf("schedulers: golden %s: expected {\"schedulers\": {...}}: %w", filepath.Join(dir, "index.json"), err)
	}
	if len(idx.Schedulers) == 0 {
		return fmt.Errorf("schedulers: golden %s lists no schedulers", filepath.Join(dir, "index.json"))
	}
	names := make([]string, 0, len(idx.Schedulers))
	for n := range idx.Schedulers {
		names = append(names, n)
	}
	sort.Strings(names)
	total, failed := 0, 0
	rep := func(name string, maxErr, tol float64) {
		pass := maxErr <= tol // NaN fails
		total++
		if !pass {
			failed++
		}
		report(name, maxErr, tol, pass)
	}
	for _, name := range names {
		entry := idx.Schedulers[name]
		cfg, err := LoadConfig(filepath.Join(dir, name, "config.json"))
		if err != nil {
			return err
		}
		kind := name
		if _, err := resolve(name, cfg); err != nil && entry.ClassName != "" {
			if k, cerr := NameForClass(entry.ClassName); cerr == nil {
				kind = k
			}
		}
		for _, f := range entry.Files {
			s, err := New(kind, cfg)
			if err != nil {
				return err
			}
			path := filepath.Join(dir, name, f.File)
			if err := checkRollout(s, path, f.NumInferenceSteps, f.HasPredOriginal, name+"/"+trimExt(f.File), rep); err != nil {
				return err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("schedulers: %d of %d golden comparisons failed", failed, total)
	}
	return nil
}

func trimExt(f string) string { return f[:len(f)-len(filepath.Ext(f))] }

// checkRollout runs one golden file through s.
func checkRollout(s Scheduler, path string, n int, hasX0 bool, label string, rep func(string, float64, float64)) error {
	g, err := safetensors.Open(path)
	if err != nil {
		return err
	}
	defer g.Close()
	f32 := func(name string) ([]float32, []int, error) { return g.Float32(name) }
	has := func(name string) bool { _, ok := g.Info(name); return ok }

	if err := s.SetTimesteps(n); err != nil {
		return err
	}
	// Timesteps: exact when stored as integers.
	info, _ := g.Info("timesteps")
	wantTs, _, err := g.Float64("timesteps")
	if info.DType == "I64" {
		var ints []int64
		ints, _, err = g.Int64("timesteps")
		wantTs = make([]float64, len(ints))
		for i, v := range ints {
			wantTs[i] = float64(v)
		}
	}
	if err != nil {
		return err
	}
	tol := tolSample
	if info.DType == "I64" {
		tol = 0
	}
	ts := s.Timesteps()
	rep(label+"/timesteps", weights.MaxAbs(ts, wantTs), tol)
	if len(ts) != len(wantTs) {
		return nil // the roll-out cannot be replayed step for step
	}
	if has("alphas_cumprod") {
		want, _, err := g.Float64("alphas_cumprod")
		if err != nil {
			return err
		}
		var got []float64
		if t, ok := s.(interface{ AlphasCumprod() []float64 }); ok {
			got = t.AlphasCumprod()
		}
		rep(label+"/alphas_cumprod", maxRelF64(got, want), tolRelative)
	}
	if has("sigmas") {
		want, _, err := g.Float64("sigmas")
		if err != nil {
			return err
		}
		var got []float64
		if t, ok := s.(interface{ Sigmas() []float64 }); ok {
			got = t.Sigmas()
		}
		rep(label+"/sigmas", maxRelF64(got, want), tolRelative)
	}
	if has("init_noise_sigma") {
		want, _, err := g.Float64("init_noise_sigma")
		if err != nil {
			return err
		}
		rep(label+"/init_noise_sigma", maxRelF64([]float64{s.InitNoiseSigma()}, want), tolRelative)
	}

	outs, _, err := f32("model_outputs")
	if err != nil {
		return err
	}
	x, _, err := f32("sample_init")
	if err != nil {
		return err
	}
	per := len(x)
	T := len(ts)
	if len(outs) != T*per {
		return fmt.Errorf("schedulers: golden %s: model_outputs has %d values, expected %d steps × %d", path, len(outs), T, per)
	}
	if has("noise_init") {
		noise, _, err := f32("noise_init")
		if err != nil {
			return err
		}
		got := make([]float32, len(noise))
		for k, v := range noise {
			got[k] = float32(float64(v) * s.InitNoiseSigma())
		}
		rep(label+"/sample_init", weights.MaxAbs(got, x), tolSample)
	}
	// Recorded noise: one draw per step whose mask is set.
	var rec *diffusion.Recorded
	if has("injected_noise") {
		noise, _, err := f32("injected_noise")
		if err != nil {
			return err
		}
		mask, _, err := g.Int64("injected_noise_mask")
		if err != nil {
			return err
		}
		rec = &diffusion.Recorded{}
		for i, m := range mask {
			if m != 0 {
				rec.Draws = append(rec.Draws, noise[i*per:(i+1)*per])
			}
		}
		ns, ok := s.(NoiseSetter)
		if !ok {
			return fmt.Errorf("schedulers: golden %s records noise but the scheduler takes none", path)
		}
		ns.SetNoise(rec)
	}
	var scales, wantScales []float32
	if has("scale_factors") {
		if wantScales, _, err = f32("scale_factors"); err != nil {
			return err
		}
	}
	var wantScaled, wantPrev, wantX0 []float32
	if has("scaled_model_inputs") {
		if wantScaled, _, err = f32("scaled_model_inputs"); err != nil {
			return err
		}
	}
	if wantPrev, _, err = f32("prev_samples"); err != nil {
		return err
	}
	if hasX0 {
		if wantX0, _, err = f32("pred_original_samples"); err != nil {
			return err
		}
	}
	var coeffs, wantCoeffs []float64
	var orders, wantOrders []float64
	if has("lms_coeffs") {
		if wantCoeffs, _, err = g.Float64("lms_coeffs"); err != nil {
			return err
		}
		o, _, err := g.Int64("lms_order")
		if err != nil {
			return err
		}
		for _, v := range o {
			wantOrders = append(wantOrders, float64(v))
		}
	}
	ones := make([]float32, per)
	for k := range ones {
		ones[k] = 1
	}
	var errScaled, errPrev, errX0, errExact float64
	for i := 0; i < T; i++ {
		step := func(a []float32) []float32 { return a[i*per : (i+1)*per] }
		if wantScales != nil {
			scales = append(scales, s.ScaleModelInput(ones, i)[0])
		}
		if wantScaled != nil {
			errScaled = math.Max(errScaled, weights.MaxAbs(s.ScaleModelInput(x, i), step(wantScaled)))
		}
		prev, x0, err := s.Step(step(outs), i, x)
		if err != nil {
			return fmt.Errorf("schedulers: golden %s step %d: %w", path, i, err)
		}
		errPrev = math.Max(errPrev, weights.MaxAbs(prev, step(wantPrev)))
		if hasX0 {
			if x0 == nil {
				errX0 = math.Inf(1)
			} else {
				errX0 = math.Max(errX0, weights.MaxAbs(x0, step(wantX0)))
			}
		}
		if wantCoeffs != nil {
			c := make([]float64, 4)
			if l, ok := s.(*LMS); ok {
				for j := range l.Coeffs {
					c[j] = l.DiffusersCoefficient(len(l.Coeffs), i, j)
					errExact = math.Max(errExact, math.Abs(l.Coeffs[j]-wantCoeffs[4*i+j]))
				}
				orders = append(orders, float64(len(l.Coeffs)))
			}
			coeffs = append(coeffs, c...)
		}
		x = prev
	}
	if wantScales != nil {
		rep(label+"/scale_factors", maxRelF64(f64s(scales), f64s(wantScales)), tolRelative)
	}
	if wantScaled != nil {
		rep(label+"/scaled_model_inputs", errScaled, tolSample)
	}
	rep(label+"/prev_samples", errPrev, tolSample)
	if hasX0 {
		rep(label+"/pred_original_samples", errX0, tolSample)
	}
	if wantCoeffs != nil {
		// lms_coeffs: diffusers' own computation of the coefficients, at the README's tolerance;
		// lms_coeffs_exact: the exact integrals Step multiplies by (see tolLMSExact).
		rep(label+"/lms_coeffs", weights.MaxAbs(coeffs, wantCoeffs), tolLMS)
		rep(label+"/lms_coeffs_exact", errExact, tolLMSExact)
		rep(label+"/lms_order", weights.MaxAbs(orders, wantOrders), 0)
	}
	if rec != nil {
		rep(label+"/injected_noise_draws", math.Abs(float64(rec.Used()-len(rec.Draws))), 0)
	}
	return nil
}

func f64s(v []float32) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}

// maxRelF64 is the largest relative difference (absolute where want is 0); +Inf on a length
// mismatch so it can never pass.
func maxRelF64(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		d := math.Abs(a[i] - b[i])
		if b[i] != 0 {
			d /= math.Abs(b[i])
		}
		if d > m || math.IsNaN(d) {
			m = d
		}
	}
	return m
}
