package backend

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

func TestParseName(t *testing.T) {
	for _, c := range []struct{ in, engine, config string }{
		{"go", Go, ""},
		{"GO", Go, ""},
		{"onnx", ONNX, "cpu"},
		{"onnxruntime:cpu,log=1", ONNX, "cpu,log=1"},
		{"xla", XLA, ""},
		{"xla:cuda", XLA, "cuda"},
		{"stablehlo:cpu", XLA, "cpu"},
	} {
		engine, config, err := parseName(c.in)
		if err != nil || engine != c.engine || config != c.config {
			t.Errorf("parseName(%q) = %q, %q, %v; want %q, %q", c.in, engine, config, err, c.engine, c.config)
		}
	}
	if _, _, err := parseName("tpu"); err == nil || !strings.Contains(err.Error(), `"tpu"`) {
		t.Errorf("parseName(\"tpu\") error = %v, want one naming the backend", err)
	}
}

func TestNewNamedCachesAndWraps(t *testing.T) {
	a, err := NewNamed("go")
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewNamed("GO")
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Errorf("NewNamed(\"go\") twice gave two backends; want one per process")
	}
	w, ok := a.(*Backend)
	if !ok || w.Engine() != Go {
		t.Fatalf("NewNamed(\"go\") = %T, want *Backend for engine go", a)
	}
	caps := a.Capabilities()
	for _, op := range []compute.OpType{compute.OpTypePad, compute.OpTypeConvGeneral,
		compute.OpTypeBatchNormForTraining} {
		if !caps.Operations[op] {
			t.Errorf("capabilities of the wrapped go backend lack %s", op)
		}
	}
	if w.Unwrap().Capabilities().Operations[compute.OpTypeBatchNormForTraining] {
		t.Logf("note: the go engine now has BatchNormForTraining itself")
	}
}

func TestNewFromEnvironment(t *testing.T) {
	t.Setenv(EnvBackend, "go")
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if b.(*Backend).Engine() != Go {
		t.Errorf("with %s=go, New() gave %s", EnvBackend, b.(*Backend).Engine())
	}

	t.Setenv(EnvBackend, "")
	t.Setenv(EnvGoMLXBackend, "go")
	if name, reason := choose(); name != "go" || !strings.Contains(reason, EnvGoMLXBackend) {
		t.Errorf("with only %s=go set, choose() = %q (%s)", EnvGoMLXBackend, name, reason)
	}

	t.Setenv(EnvBackend, "quantum")
	if _, err := New(); err == nil {
		t.Errorf("with %s=quantum, New() gave no error", EnvBackend)
	}
}

// TestFallbackWithoutLibraries checks that, with no native library to be found, New settles on pure Go
// quickly (nothing is downloaded) and says why, and that asking for onnx by name fails with the path.
func TestFallbackWithoutLibraries(t *testing.T) {
	t.Setenv(EnvBackend, "")
	t.Setenv(EnvGoMLXBackend, "")
	t.Setenv(EnvONNXLibrary, "/nonexistent/libonnxruntime.so")
	start := time.Now()
	name, reason := choose()
	if _, err := xlaPlugins(); err == nil {
		if name != XLA {
			t.Errorf("an XLA plugin is installed but choose() = %q (%s)", name, reason)
		}
	} else if name != Go || !strings.Contains(reason, "/nonexistent/libonnxruntime.so") {
		t.Errorf("choose() = %q (%s), want go with the missing onnx library named", name, reason)
	}
	if _, err := NewNamed("onnx:cpu,log=0"); err == nil || !strings.Contains(err.Error(), "/nonexistent") {
		t.Errorf("NewNamed(onnx) without its library: error %v, want one naming the path", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("falling back took %s; it must not wait on downloads", d)
	}
	if got := Available(); !slices.Contains(got, Go) || slices.Contains(got, ONNX) {
		t.Errorf("Available() = %v without the onnx library, want go and not onnx", got)
	}
}

// TestOutputsFeedBack checks that a result of one execution can be the input of the next: GoMLX refuses
// tensors whose buffer belongs to another backend instance, so the wrapper must wrap buffers too.
func TestOutputsFeedBack(t *testing.T) {
	forEngines(t, false, func(t *testing.T, e engine) {
		step := MustNewExec(e.be, func(x *Node) *Node { return MulScalar(x, 2) })
		x := tensors.FromValue([]float32{1, 2, 3})
		for range 3 {
			out, err := step.Exec(x)
			if err != nil {
				t.Fatalf("%+v", err)
			}
			x = out[0]
		}
		if got := x.Value().([]float32); !slices.Equal(got, []float32{8, 16, 24}) {
			t.Errorf("x·2·2·2 = %v, want [8 16 24]", got)
		}
	})
}

// TestClosures checks control flow through the wrapper on the Go engine (ONNX Runtime has no closures):
// the closures are wrapped too, so ops supplied by composition (here a negative Pad) work inside them.
func TestClosures(t *testing.T) {
	be, err := NewNamed(Go)
	if err != nil {
		t.Fatal(err)
	}
	out, err := ExecOnce(be, func(g *Graph) *Node {
		cond := NewClosure(g, func(g *Graph) []*Node {
			i := Parameter(g, "i", shapes.Scalar[int32]())
			_ = Parameter(g, "v", shapes.Make(dtypes.Float32, 4))
			return []*Node{LessThan(i, Const(g, int32(3)))}
		})
		body := NewClosure(g, func(g *Graph) []*Node {
			i := Parameter(g, "i", shapes.Scalar[int32]())
			v := Parameter(g, "v", shapes.Make(dtypes.Float32, 4))
			// Rotate left by one: drop the first element (negative padding), append it at the end.
			rotated := Concatenate([]*Node{Pad(v, ScalarZero(g, dtypes.Float32), compute.PadAxis{Start: -1}),
				Slice(v, AxisRange(0, 1))}, 0)
			return []*Node{AddScalar(i, 1), rotated}
		})
		rotated := While(cond, body, Const(g, int32(0)), Const(g, []float32{4, 1, 3, 2}))[1]
		return Concatenate([]*Node{rotated, Sort(rotated, 0, false)}, 0)
	})
	if err != nil {
		t.Fatalf("%+v", err)
	}
	if got, want := out.Value().([]float32), []float32{2, 4, 1, 3, 4, 3, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("rotated thrice, then sorted descending = %v, want %v", got, want)
	}
}

func TestAdjustFixes(t *testing.T) {
	fix, err := adjustFixes(fixes{pruneDead: true}, "-pruneDead, +convAsDot")
	if err != nil || fix.pruneDead || !fix.convAsDot {
		t.Errorf("got %+v, %v; want pruneDead off and convAsDot on", fix, err)
	}
	for _, bad := range []string{"pruneDead", "+noSuchFix"} {
		if _, err := adjustFixes(fixes{}, bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
