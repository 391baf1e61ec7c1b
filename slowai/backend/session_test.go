package backend

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
)

func TestONNXSessionConfig(t *testing.T) {
	t.Setenv(EnvORTOptions, "")
	if got, want := onnxSessionConfig("cpu"), strings.Trim(DefaultORTOptions+",cpu", ","); got != want {
		t.Errorf("onnxSessionConfig(\"cpu\") = %q, want %q", got, want)
	}
	// $SLOWAI_ORT comes last, so that its keys override the defaults and the engine's config.
	t.Setenv(EnvORTOptions, " execution_mode=parallel, ")
	if got := onnxSessionConfig("cpu"); !strings.HasSuffix(got, ",cpu,execution_mode=parallel") {
		t.Errorf("with $%s set, onnxSessionConfig(\"cpu\") = %q, want it to end in \",cpu,execution_mode=parallel\"",
			EnvORTOptions, got)
	}
}

// TestONNXSessionOptions checks that session options reach ONNX Runtime: a bad value is refused with an
// error naming the option, and a convolution's gradients, whose two branches (kernel and input
// gradient) run at the same time in parallel execution mode, come out as with the default options.
func TestONNXSessionOptions(t *testing.T) {
	loadEngines(t)
	if onnxMissing != "" {
		t.Skipf("onnx engine not tested: %s", onnxMissing)
	}
	for _, bad := range []string{"execution_mode=sideways", "intra_op_threads=-1", "spinning=2",
		"graph_optimization=most"} {
		key, _, _ := strings.Cut(bad, "=")
		if _, err := NewNamed("onnx:cpu," + bad); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("NewNamed(\"onnx:cpu,%s\") error = %v, want one naming %s", bad, err, key)
		}
	}

	rng := rand.New(rand.NewPCG(1, 2))
	x, k := randArr(rng, 2, 6, 6, 3), randArr(rng, 3, 3, 3, 4)
	grads := func(name string) []arr {
		be, err := NewNamed(name)
		if err != nil {
			t.Fatalf("NewNamed(%q): %v", name, err)
		}
		step := MustNewExec(be, func(x, k *Node) (*Node, *Node) {
			y := Convolve(x, k).PadSame().Done()
			g := Gradient(ReduceAllSum(Square(y)), x, k)
			return g[0], g[1]
		})
		defer step.Finalize()
		outs := step.MustExec(x.tensor(dtypes.Float32), k.tensor(dtypes.Float32))
		return []arr{toArr(t, outs[0]), toArr(t, outs[1])}
	}
	want := grads("onnx:cpu")
	for _, opts := range []string{
		"execution_mode=parallel,intra_op_threads=1,inter_op_threads=2,spinning=0",
		"intra_op_threads=2,spinning=0,graph_optimization=basic,session.use_env_allocators=0",
	} {
		got := grads("onnx:cpu," + opts)
		atol, rtol := tols(dtypes.Float32)
		assertClose(t, opts+": input gradient", got[0], want[0], atol, rtol)
		assertClose(t, opts+": kernel gradient", got[1], want[1], atol, rtol)
	}
}
