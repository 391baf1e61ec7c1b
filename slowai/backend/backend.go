// Package backend is the one place notebooks and packages get a compute backend from.
//
// New picks the fastest engine that can start on this machine without downloading anything; NewNamed asks
// for one by name. Both return a *Backend: the engine wrapped so that ops missing or broken in it (Pad in all
// its forms, input-dilated convolutions, padded window sums, batch norm, ...) are supplied as compositions
// of ops that work, so GoMLX graphs, layers, training loops and gradients run unchanged on every engine.
//
// Engines:
//
//   - "xla": XLA through its PJRT plugin (github.com/gomlx/go-xla); used only if the plugin is already
//     installed, since auto-install is switched off. Needs cgo.
//   - "onnx": ONNX Runtime on the CPU (github.com/gomlx/compute-onnx); used if its shared library is at
//     $ONNXRUNTIME_SHARED_LIBRARY_PATH or ~/.local/lib/onnxruntime/libonnxruntime.so.
//   - "go": the pure Go engine of github.com/gomlx/compute; always there, slowest.
package backend

import (
	"fmt"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"unsafe"

	"github.com/gomlx/compute"
	_ "github.com/gomlx/compute/gobackend"
)

// Engine names accepted by NewNamed, SLOWAI_BACKEND and GOMLX_BACKEND.
const (
	Go   = "go"
	ONNX = "onnx"
	XLA  = "xla"
)

// noAutoInstallEnv, when set, stops go-xla and compute-onnx from downloading their native libraries.
const noAutoInstallEnv = "GOMLX_NO_AUTO_INSTALL"

// Environment variables read by New.
const (
	// EnvBackend names the engine to use ("onnx", "go" or "xla", optionally followed by ":config").
	EnvBackend = "SLOWAI_BACKEND"
	// EnvGoMLXBackend is GoMLX's own variable, honoured when EnvBackend is not set.
	EnvGoMLXBackend = compute.ConfigEnvVar
	// EnvONNXLibrary overrides where the ONNX Runtime shared library is looked for.
	EnvONNXLibrary = "ONNXRUNTIME_SHARED_LIBRARY_PATH"
)

func init() {
	// A course run offline must fall back to the next engine, never hang on a download. Both engines read
	// this variable in their own init, before this one runs, so here it only reaches programs started from
	// this one; in this process downloads are prevented by switching off XLA's auto-install (xla_cgo.go)
	// and by starting ONNX Runtime only once its library is found (open).
	if _, ok := os.LookupEnv(noAutoInstallEnv); !ok {
		_ = os.Setenv(noAutoInstallEnv, "1")
	}
}

var (
	mu        sync.Mutex
	cache     = map[string]*Backend{} // by canonical "engine:config".
	announced = map[string]bool{}     // choices of New already printed.
)

// New returns the backend named by SLOWAI_BACKEND or GOMLX_BACKEND if set, or else the best engine that can
// start here without downloading: XLA if its PJRT plugin is installed, else ONNX Runtime if its library is
// present, else pure Go. With SLOWAI_VERBOSE=1 it prints one line to stderr saying which and why (once per
// process and choice).
// The backend is cached: every call, like NewNamed, returns the same instance for the same engine.
func New() (compute.Backend, error) {
	name, reason := choose()
	b, err := NewNamed(name)
	if err != nil {
		return nil, err
	}
	mu.Lock()
	defer mu.Unlock()
	key := name + "\x00" + reason
	if !announced[key] && os.Getenv(EnvVerbose) == "1" {
		announced[key] = true
		fmt.Fprintf(os.Stderr, "slowai/backend: using %s: %s\n", b.(*Backend).engine, reason)
	}
	return b, nil
}

// EnvVerbose, set to 1, makes New print which engine it chose and why (with the library's path)
// to stderr. It is off by default: a notebook cell's stderr reads as an error on a rendered page,
// and the page footer already names the engine (see Choice).
const EnvVerbose = "SLOWAI_VERBOSE"

// Choice says which engine New would pick here, without starting it, and why in words that
// name no file path (for a page footer or a log a reader sees).
func Choice() (engine, why string) {
	name, reason := choose()
	engine, _, err := parseName(name)
	if err != nil {
		return name, "not a valid engine name"
	}
	switch {
	case strings.HasPrefix(reason, "set by"):
		return engine, reason
	case engine == XLA:
		return engine, "XLA PJRT plugin installed"
	case engine == ONNX:
		return engine, "ONNX Runtime CPU library installed, no XLA plugin"
	default:
		return engine, "neither XLA nor ONNX Runtime installed"
	}
}

// choose returns the engine New should use and why.
func choose() (name, reason string) {
	for _, env := range []string{EnvBackend, EnvGoMLXBackend} {
		if v := strings.TrimSpace(os.Getenv(env)); v != "" {
			return v, fmt.Sprintf("set by $%s=%s", env, v)
		}
	}
	plugins, xlaErr := xlaPlugins()
	if xlaErr == nil {
		return XLA, "XLA PJRT plugin installed (" + plugins + ")"
	}
	path, onnxErr := onnxLibrary()
	if onnxErr == nil {
		return ONNX, fmt.Sprintf("ONNX Runtime CPU library at %s; no XLA (%v)", path, xlaErr)
	}
	return Go, fmt.Sprintf("pure Go, the slowest; no XLA (%v), no ONNX Runtime (%v)", xlaErr, onnxErr)
}

// NewNamed returns the named engine, wrapped: "go", "onnx" (alias "onnxruntime") or "xla" (aliases
// "stablehlo", "pjrt"), each optionally followed by ":config" passed to the engine (e.g. "xla:cuda"; for
// "onnx" the default config is "cpu"). It never downloads: an engine whose native library is missing is an
// error. Backends are cached, one per process per name.
func NewNamed(name string) (compute.Backend, error) {
	engine, config, err := parseName(name)
	if err != nil {
		return nil, err
	}
	key := engine + ":" + config
	mu.Lock()
	defer mu.Unlock()
	if b, ok := cache[key]; ok && !b.IsFinalized() {
		return b, nil
	}
	inner, err := open(engine, config)
	if err != nil {
		return nil, err
	}
	fix, err := adjustFixes(defaultFixes(engine), os.Getenv(EnvFixes))
	if err != nil {
		return nil, err
	}
	b := wrap(inner, engine, fix)
	cache[key] = b
	return b, nil
}

// Available lists the engines that can start on this machine without downloading anything, fastest first.
func Available() []string {
	var names []string
	if _, err := xlaPlugins(); err == nil {
		names = append(names, XLA)
	}
	if _, err := onnxLibrary(); err == nil {
		names = append(names, ONNX)
	}
	return append(names, Go)
}

// parseName splits "engine[:config]" and resolves aliases.
func parseName(name string) (engine, config string, err error) {
	engine, config, _ = strings.Cut(strings.TrimSpace(name), ":")
	switch strings.ToLower(engine) {
	case "go", "gobackend", "simplego":
		return Go, config, nil
	case "onnx", "onnxruntime", "ort":
		if config == "" {
			config = "cpu"
		}
		return ONNX, config, nil
	case "xla", "stablehlo", "pjrt", "hlo":
		return XLA, config, nil
	}
	return "", "", fmt.Errorf("slowai/backend: unknown backend %q: want %q, %q or %q (optionally followed by \":config\")",
		name, ONNX, Go, XLA)
}

// open starts the engine itself, unwrapped.
func open(engine, config string) (compute.Backend, error) {
	switch engine {
	case ONNX:
		if _, err := onnxLibrary(); err != nil {
			return nil, fmt.Errorf("slowai/backend: onnx: %w", err)
		}
		config = onnxSessionConfig(config)
	case XLA:
		if _, err := xlaPlugins(); err != nil {
			return nil, fmt.Errorf("slowai/backend: xla: %w (searched $PJRT_PLUGIN_LIBRARY_PATH, "+
				"/usr/local/lib/go-xla, ~/.local/lib/go-xla and the system library paths; install a plugin with "+
				"github.com/gomlx/go-xla's installer: this package never downloads)", err)
		}
	}
	full := engine
	if config != "" {
		full += ":" + config
	}
	b, err := compute.NewWithConfig(full)
	if err != nil {
		return nil, fmt.Errorf("slowai/backend: starting %q: %w", full, err)
	}
	return b, nil
}

// EnvORTOptions adds ONNX Runtime session options for A/B measurements, after DefaultORTOptions and the
// engine's config, so that they override both: comma-separated key=value pairs of the compute-onnx
// fork's config (third_party/compute-onnx/FORK.md), e.g. "execution_mode=parallel,intra_op_threads=1".
const EnvORTOptions = "SLOWAI_ORT"

// DefaultORTOptions are the ONNX Runtime session options of every onnx session, chosen by the A/B
// measurements of the training steps W2, W3 and W7 in PERFORMANCE.md ("Session options"): one
// intra-op thread per CPU. ONNX Runtime's own default (one per physical core) ran everything on a
// single thread on this 2-vCPU VM.
var DefaultORTOptions = fmt.Sprintf("intra_op_threads=%d", runtime.NumCPU())

// onnxSessionConfig returns an onnx engine config with DefaultORTOptions before it and $SLOWAI_ORT after
// it (compute-onnx lets a later key override an earlier one).
func onnxSessionConfig(config string) string {
	parts := []string{DefaultORTOptions, config, os.Getenv(EnvORTOptions)}
	var kept []string
	for _, p := range parts {
		if p = strings.Trim(strings.TrimSpace(p), ","); p != "" {
			kept = append(kept, p)
		}
	}
	return strings.Join(kept, ",")
}

// EnvFixes adjusts the engine's fixes for A/B measurements: a comma-separated list of fixes field names,
// each prefixed by "+" (switch on) or "-" (switch off), e.g. "-convWideKernelGathered".
const EnvFixes = "SLOWAI_FIXES"

// adjustFixes applies an EnvFixes list to fix.
func adjustFixes(fix fixes, list string) (fixes, error) {
	v := reflect.ValueOf(&fix).Elem()
	for _, item := range strings.Split(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		on := item[0] == '+'
		if !on && item[0] != '-' {
			return fix, fmt.Errorf("slowai/backend: $%s: %q must start with + or -", EnvFixes, item)
		}
		field := v.FieldByName(item[1:])
		if !field.IsValid() || field.Kind() != reflect.Bool {
			return fix, fmt.Errorf("slowai/backend: $%s: no fix named %q", EnvFixes, item[1:])
		}
		reflect.NewAt(field.Type(), unsafe.Pointer(field.UnsafeAddr())).Elem().SetBool(on)
	}
	return fix, nil
}

// defaultFixes lists, per engine, the ops that build but fail or crawl when run, found by this package's
// tests and benchmarks (see the fixes fields).
func defaultFixes(engine string) fixes {
	switch engine {
	case Go:
		return fixes{padNegative: true, convAsDot: true}
	case ONNX:
		return fixes{windowPads: true, selectScatterOverlap: true, scatterInt64: true, scalarReshape: true,
			dotAsMatMul: true, pruneDead: true, simplify: true, convWideKernelAsDot: true,
			convWideKernelGathered: true, innerRepeatAsConcat: true, copyParamOutputs: true,
			dilatedConvAsTranspose: true}
	}
	return fixes{}
}

// onnxLibrary returns the path of the ONNX Runtime shared library, or why it is not usable.
func onnxLibrary() (string, error) {
	path := os.Getenv(EnvONNXLibrary)
	if path == "" {
		var err error
		if path, err = onnxDefaultLibrary(); err != nil {
			return "", err
		}
	}
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("no library at %s (install it there or set $%s)", path, EnvONNXLibrary)
	}
	return path, nil
}
