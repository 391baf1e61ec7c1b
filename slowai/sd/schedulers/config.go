package schedulers

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"sort"

	"github.com/slowai-go/course/slowai/diffusion"
)

// Config is a diffusers scheduler configuration: the key/value pairs of a scheduler_config.json
// (numbers as float64, as encoding/json decodes them; Go ints are accepted too). Keys a scheduler
// does not use are ignored and missing keys take that scheduler's diffusers default, exactly like
// diffusers' from_config — so one config can build any of the schedulers.
//
// Keys read: num_train_timesteps, beta_start, beta_end, beta_schedule ("linear", "scaled_linear",
// "squaredcos_cap_v2"), trained_betas, prediction_type ("epsilon", "v_prediction", "sample"),
// steps_offset, timestep_spacing ("linspace", "leading", "trailing"), clip_sample,
// clip_sample_range, set_alpha_to_one, variance_type ("fixed_small", "fixed_small_log",
// "fixed_large"), skip_prk_steps. Options this package does not implement (thresholding,
// rescale_betas_zero_snr, use_karras_sigmas, non-linear interpolation_type, continuous
// timestep_type, PNDM's Runge-Kutta warm-up) are rejected with an error when set.
type Config map[string]any

// LoadConfig reads a diffusers scheduler_config.json.
func LoadConfig(path string) (Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("schedulers: %w", err)
	}
	var c Config
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("schedulers: %s: expected a JSON object: %w", path, err)
	}
	if c == nil {
		return nil, fmt.Errorf("schedulers: %s: expected a JSON object, got null", path)
	}
	return c, nil
}

// StableDiffusionV1 is the scheduler configuration Stable Diffusion v1 checkpoints ship (without
// _class_name and timestep_spacing, so each scheduler uses its own default spacing).
func StableDiffusionV1() Config {
	return Config{
		"num_train_timesteps": 1000, "beta_start": 0.00085, "beta_end": 0.012,
		"beta_schedule": "scaled_linear", "steps_offset": 1, "clip_sample": false,
		"set_alpha_to_one": false, "skip_prk_steps": true, "prediction_type": "epsilon",
	}
}

// classNames maps diffusers class names to New's names.
var classNames = map[string]string{
	"LMSDiscreteScheduler":            "lms",
	"DDIMScheduler":                   "ddim",
	"DDPMScheduler":                   "ddpm",
	"EulerDiscreteScheduler":          "euler",
	"EulerAncestralDiscreteScheduler": "euler_ancestral",
	"PNDMScheduler":                   "pndm",
}

// Names lists the schedulers New can build.
func Names() []string {
	var ns []string
	for _, n := range classNames {
		ns = append(ns, n)
	}
	sort.Strings(ns)
	return ns
}

// NameForClass returns New's name for a diffusers class name such as "LMSDiscreteScheduler".
func NameForClass(class string) (string, error) {
	if n, ok := classNames[class]; ok {
		return n, nil
	}
	return "", fmt.Errorf("schedulers: unsupported scheduler class %q, expected one of %v", class, sortedKeys(classNames))
}

// NewFromConfig builds the scheduler named by the config's _class_name.
func NewFromConfig(cfg Config) (Scheduler, error) {
	class, err := cfg.str("_class_name", "")
	if err != nil {
		return nil, err
	}
	if class == "" {
		return nil, fmt.Errorf("schedulers: config has no _class_name; use New with a scheduler name")
	}
	name, err := NameForClass(class)
	if err != nil {
		return nil, err
	}
	return New(name, cfg)
}

// New builds the named scheduler ("lms", "ddim", "ddpm", "euler", "euler_ancestral", "pndm")
// from cfg. Call SetTimesteps before use.
func New(name string, cfg Config) (Scheduler, error) {
	p, err := resolve(name, cfg)
	if err != nil {
		return nil, err
	}
	b, err := newBase(name, p)
	if err != nil {
		return nil, err
	}
	switch name {
	case "lms":
		return &LMS{sigmaBase: sigmaBase{base: b}}, nil
	case "euler":
		return &Euler{sigmaBase: sigmaBase{base: b}}, nil
	case "euler_ancestral":
		return &EulerAncestral{sigmaBase: sigmaBase{base: b}}, nil
	case "ddim":
		return &DDIM{base: b}, nil
	case "ddpm":
		return &DDPM{base: b}, nil
	case "pndm":
		return &PNDM{base: b}, nil
	}
	panic("unreachable: resolve accepted " + name)
}

// params is a Config resolved against one scheduler's defaults and checked.
type params struct {
	numTrain           int
	betaStart, betaEnd float64
	betaSchedule       string
	trainedBetas       []float64
	prediction         diffusion.Prediction
	stepsOffset        int
	spacing            string
	clipSample         bool
	clipRange          float64
	setAlphaToOne      bool
	varianceType       string
}

// resolve applies the diffusers 0.25 defaults of scheduler name to cfg and validates the values.
func resolve(name string, c Config) (p params, err error) {
	defSpacing := "leading"
	switch name {
	case "lms", "euler", "euler_ancestral":
		defSpacing = "linspace"
	case "ddim", "ddpm", "pndm":
	default:
		return p, fmt.Errorf("schedulers: unknown scheduler %q, expected one of %v", name, Names())
	}
	fail := func(key string, v any, want string) error {
		return fmt.Errorf("schedulers: %s config: %s = %v is not supported, expected %s", name, key, v, want)
	}
	if p.numTrain, err = c.integer("num_train_timesteps", 1000); err != nil {
		return p, err
	}
	if p.numTrain < 2 {
		return p, fail("num_train_timesteps", p.numTrain, "at least 2")
	}
	if p.betaStart, err = c.number("beta_start", 0.0001); err != nil {
		return p, err
	}
	if p.betaEnd, err = c.number("beta_end", 0.02); err != nil {
		return p, err
	}
	if p.trainedBetas, err = c.numbers("trained_betas"); err != nil {
		return p, err
	}
	if p.trainedBetas != nil && len(p.trainedBetas) != p.numTrain {
		return p, fail("trained_betas", fmt.Sprintf("(%d values)", len(p.trainedBetas)), fmt.Sprintf("num_train_timesteps = %d values", p.numTrain))
	}
	if p.betaSchedule, err = c.str("beta_schedule", "linear"); err != nil {
		return p, err
	}
	if p.trainedBetas == nil {
		switch p.betaSchedule {
		case "linear", "scaled_linear", "squaredcos_cap_v2":
		default:
			return p, fail("beta_schedule", p.betaSchedule, `"linear", "scaled_linear" or "squaredcos_cap_v2"`)
		}
	}
	pred, err := c.str("prediction_type", "epsilon")
	if err != nil {
		return p, err
	}
	p.prediction = diffusion.Prediction(pred)
	switch {
	case pred == "epsilon" || pred == "v_prediction":
	case pred == "sample" && name != "pndm":
	default:
		return p, fail("prediction_type", pred, `"epsilon", "v_prediction" or (except PNDM) "sample"`)
	}
	if p.stepsOffset, err = c.integer("steps_offset", 0); err != nil {
		return p, err
	}
	if p.spacing, err = c.str("timestep_spacing", defSpacing); err != nil {
		return p, err
	}
	switch p.spacing {
	case "linspace", "leading", "trailing":
	default:
		return p, fail("timestep_spacing", p.spacing, `"linspace", "leading" or "trailing"`)
	}
	// Options that change the math in ways not implemented here must be off.
	off := map[string][]string{
		"ddim":            {"thresholding", "rescale_betas_zero_snr"},
		"ddpm":            {"thresholding", "rescale_betas_zero_snr"},
		"euler":           {"use_karras_sigmas", "rescale_betas_zero_snr"},
		"euler_ancestral": {"rescale_betas_zero_snr"},
		"lms":             {"use_karras_sigmas"},
	}
	for _, key := range off[name] {
		v, err := c.boolean(key, false)
		if err != nil {
			return p, err
		}
		if v {
			return p, fail(key, v, "false")
		}
	}
	switch name {
	case "ddim", "ddpm":
		if p.clipSample, err = c.boolean("clip_sample", true); err != nil {
			return p, err
		}
		if p.clipRange, err = c.number("clip_sample_range", 1); err != nil {
			return p, err
		}
	}
	switch name {
	case "ddim":
		if p.setAlphaToOne, err = c.boolean("set_alpha_to_one", true); err != nil {
			return p, err
		}
	case "pndm":
		if p.setAlphaToOne, err = c.boolean("set_alpha_to_one", false); err != nil {
			return p, err
		}
		skip, err := c.boolean("skip_prk_steps", false)
		if err != nil {
			return p, err
		}
		if !skip {
			return p, fail("skip_prk_steps", skip, "true (the Runge-Kutta warm-up is not implemented; Stable Diffusion skips it)")
		}
	case "ddpm":
		if p.varianceType, err = c.str("variance_type", "fixed_small"); err != nil {
			return p, err
		}
		switch p.varianceType {
		case "fixed_small", "fixed_small_log", "fixed_large":
		default:
			return p, fail("variance_type", p.varianceType, `"fixed_small", "fixed_small_log" or "fixed_large"`)
		}
	case "euler":
		if v, err := c.str("interpolation_type", "linear"); err != nil {
			return p, err
		} else if v != "linear" {
			return p, fail("interpolation_type", v, `"linear"`)
		}
		if v, err := c.str("timestep_type", "discrete"); err != nil {
			return p, err
		} else if v != "discrete" {
			return p, fail("timestep_type", v, `"discrete"`)
		}
	}
	return p, nil
}

func (c Config) get(key string) (any, bool) {
	v, ok := c[key]
	if !ok || v == nil {
		return nil, false
	}
	return v, true
}

func typeErr(key string, v any, want string) error {
	return fmt.Errorf("schedulers: config key %q = %v (%T), expected %s", key, v, v, want)
}

func (c Config) number(key string, def float64) (float64, error) {
	v, ok := c.get(key)
	if !ok {
		return def, nil
	}
	switch x := v.(type) {
	case float64:
		return x, nil
	case float32:
		return float64(x), nil
	case int:
		return float64(x), nil
	case int64:
		return float64(x), nil
	}
	return 0, typeErr(key, v, "a number")
}

func (c Config) integer(key string, def int) (int, error) {
	v, ok := c.get(key)
	if !ok {
		return def, nil
	}
	f, err := c.number(key, 0)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<40 {
		return 0, typeErr(key, v, "an integer")
	}
	return int(f), nil
}

func (c Config) str(key, def string) (string, error) {
	v, ok := c.get(key)
	if !ok {
		return def, nil
	}
	s, isStr := v.(string)
	if !isStr {
		return "", typeErr(key, v, "a string")
	}
	return s, nil
}

func (c Config) boolean(key string, def bool) (bool, error) {
	v, ok := c.get(key)
	if !ok {
		return def, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, typeErr(key, v, "true or false")
	}
	return b, nil
}

// numbers reads a list of numbers; nil when the key is missing or null.
func (c Config) numbers(key string) ([]float64, error) {
	v, ok := c.get(key)
	if !ok {
		return nil, nil
	}
	switch x := v.(type) {
	case []float64:
		return x, nil
	case []any:
		out := make([]float64, len(x))
		for i, e := range x {
			f, isNum := e.(float64)
			if !isNum {
				return nil, typeErr(fmt.Sprintf("%s[%d]", key, i), e, "a number")
			}
			out[i] = f
		}
		return out, nil
	}
	return nil, typeErr(key, v, "a list of numbers or null")
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
