package backend

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
)

// engine is one backend under test.
type engine struct {
	name string
	be   compute.Backend
}

var (
	enginesOnce  sync.Once
	testBackends []engine // go, go with every composition forced, onnx, onnx with every composition forced.
	onnxMissing  string   // why onnx is skipped, if it is.
)

func loadEngines(t *testing.T) {
	t.Helper()
	enginesOnce.Do(func() {
		goBe, err := NewNamed(Go)
		if err != nil {
			panic(err)
		}
		testBackends = append(testBackends, engine{"go", goBe})
		raw, err := open(Go, "")
		if err != nil {
			panic(err)
		}
		testBackends = append(testBackends, engine{"go-composed", wrap(raw, Go, fixes{composeAll: true})})
		if _, err := onnxLibrary(); err != nil {
			onnxMissing = err.Error()
			return
		}
		onnxBe, err := NewNamed(ONNX)
		if err != nil {
			onnxMissing = err.Error()
			return
		}
		testBackends = append(testBackends, engine{"onnx", onnxBe})
		raw, err = open(ONNX, "cpu")
		if err != nil {
			panic(err)
		}
		testBackends = append(testBackends, engine{"onnx-composed", wrap(raw, ONNX, fixes{composeAll: true})})
	})
}

// forEngines runs fn on "go" and "onnx" (skipped with the reason if its library is absent) and, if composed
// is set, also on both with every supplied op forced to its composition.
func forEngines(t *testing.T, composed bool, fn func(t *testing.T, e engine)) {
	t.Helper()
	loadEngines(t)
	for _, e := range testBackends {
		if !composed && (e.name == "go-composed" || e.name == "onnx-composed") {
			continue
		}
		t.Run(e.name, func(t *testing.T) { fn(t, e) })
	}
	if onnxMissing != "" {
		t.Run("onnx", func(t *testing.T) { t.Skipf("onnx engine not tested: %s", onnxMissing) })
	}
}

// arr is a float64 array with its dimensions: test data and reference results, whatever dtype runs.
type arr struct {
	dims []int
	data []float64
}

// randArr returns values uniform in [-1, 1).
func randArr(rng *rand.Rand, dims ...int) arr {
	a := arr{dims: dims, data: make([]float64, size(dims))}
	for i := range a.data {
		a.data[i] = 2*rng.Float64() - 1
	}
	return a
}

// distinctArr returns a random permutation of well separated values, so that a max never ties and stays
// the max under the small steps of finite differences.
func distinctArr(rng *rand.Rand, dims ...int) arr {
	a := arr{dims: dims, data: make([]float64, size(dims))}
	for i, p := range rng.Perm(len(a.data)) {
		a.data[i] = float64(p)*0.05 - float64(len(a.data))*0.025
	}
	return a
}

func (a arr) tensor(dt dtypes.DType) *tensors.Tensor {
	switch dt {
	case dtypes.Float64:
		return tensors.FromFlatDataAndDimensions(append([]float64(nil), a.data...), a.dims...)
	case dtypes.Float32:
		f := make([]float32, len(a.data))
		for i, v := range a.data {
			f[i] = float32(v)
		}
		return tensors.FromFlatDataAndDimensions(f, a.dims...)
	}
	panic(fmt.Sprintf("arr.tensor: dtype %s not supported", dt))
}

func toArr(t *testing.T, x *tensors.Tensor) arr {
	t.Helper()
	a := arr{dims: x.Shape().Dimensions}
	switch x.DType() {
	case dtypes.Float64:
		a.data = tensors.MustCopyFlatData[float64](x)
	case dtypes.Float32:
		for _, v := range tensors.MustCopyFlatData[float32](x) {
			a.data = append(a.data, float64(v))
		}
	default:
		t.Fatalf("toArr: dtype %s not supported", x.DType())
	}
	return a
}

// index converts a flat index into a multi-index of dims.
func index(flat int, dims []int, idx []int) {
	for i := len(dims) - 1; i >= 0; i-- {
		idx[i] = flat % dims[i]
		flat /= dims[i]
	}
}

// flatOf converts a multi-index into a flat index of dims.
func flatOf(idx, dims []int) int {
	f := 0
	for i, d := range dims {
		f = f*d + idx[i]
	}
	return f
}

// assertClose fails unless got and want have the same dimensions and |got-want| <= atol + rtol·|want|.
func assertClose(t *testing.T, what string, got, want arr, atol, rtol float64) {
	t.Helper()
	if fmt.Sprint(got.dims) != fmt.Sprint(want.dims) {
		t.Fatalf("%s: dims %v, want %v", what, got.dims, want.dims)
	}
	bad := 0
	for i := range want.data {
		if d := math.Abs(got.data[i] - want.data[i]); !(d <= atol+rtol*math.Abs(want.data[i])) {
			if bad < 5 {
				idx := make([]int, len(want.dims))
				index(i, want.dims, idx)
				t.Errorf("%s: at %v got %.6g, want %.6g", what, idx, got.data[i], want.data[i])
			}
			bad++
		}
	}
	if bad > 0 {
		t.Errorf("%s: %d of %d values differ", what, bad, len(want.data))
	}
}

// tolerances for comparing against float64 references, by dtype run.
func tols(dt dtypes.DType) (atol, rtol float64) {
	if dt == dtypes.Float64 {
		return 1e-10, 1e-10
	}
	return 1e-5, 1e-5
}

// exec runs fn once on e with the inputs in dtype dt.
func exec(t *testing.T, e engine, dt dtypes.DType, fn func(xs []*Node) *Node, inputs ...arr) (arr, error) {
	t.Helper()
	args := make([]any, len(inputs))
	for i, a := range inputs {
		args[i] = a.tensor(dt)
	}
	out, err := ExecOnce(e.be, fn, args...)
	if err != nil {
		return arr{}, err
	}
	return toArr(t, out), nil
}

// dtypesFor lists the dtypes to try in order: float64 first (exact checks), float32 where the engine lacks
// a float64 kernel for some op.
var dtypesFor = []dtypes.DType{dtypes.Float64, dtypes.Float32}

// failedModel is where compute-onnx writes, into the working directory, every graph ONNX Runtime refuses
// to compile; the float64 attempts below produce some, which must not be left in the source tree.
const failedModel = "failed_model.onnx"

// cleanFailedModel removes failedModel if it was not there before (existed reports that).
func cleanFailedModel(existed bool) {
	if !existed {
		_ = os.Remove(failedModel)
	}
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// execBest runs fn in float64 if the engine can, else in float32, and returns the dtype used.
func execBest(t *testing.T, e engine, fn func(xs []*Node) *Node, inputs ...arr) (arr, dtypes.DType) {
	t.Helper()
	defer cleanFailedModel(fileExists(failedModel))
	var firstErr error
	for _, dt := range dtypesFor {
		out, err := exec(t, e, dt, fn, inputs...)
		if err == nil {
			if dt != dtypes.Float64 {
				logFallback(t, e, firstErr, dt)
			}
			return out, dt
		}
		if firstErr == nil {
			firstErr = err
		}
		if e.name == "go" || e.name == "go-composed" {
			break // the Go engine has float64 everywhere: an error is a real failure.
		}
	}
	t.Fatalf("%s: %+v", e.name, firstErr)
	return arr{}, 0
}

// logFallback says, briefly, why a check ran in a lower precision.
func logFallback(t *testing.T, e engine, err error, dt dtypes.DType) {
	t.Helper()
	msg := err.Error()
	if i := strings.Index(msg, "ONNX Runtime error: "); i >= 0 {
		msg = msg[i:]
	}
	if len(msg) > 160 {
		msg = msg[:160] + "..."
	}
	t.Logf("%s: checked in %s, float64 failed: %s", e.name, dt, msg)
}

// checkForward compares fn's result on e with want, computed in plain Go.
func checkForward(t *testing.T, e engine, what string, want arr, fn func(xs []*Node) *Node, inputs ...arr) {
	t.Helper()
	got, dt := execBest(t, e, fn, inputs...)
	atol, rtol := tols(dt)
	assertClose(t, what, got, want, atol, rtol)
}

// gradCheck compares the gradient of loss (a scalar) with respect to each input against central finite
// differences, on at most maxPoints elements of each input. It runs in float64 where the engine can and
// falls back to float32 with a larger step and looser tolerances.
func gradCheck(t *testing.T, e engine, loss func(xs []*Node) *Node, inputs ...arr) {
	t.Helper()
	defer cleanFailedModel(fileExists(failedModel))
	const maxPoints = 24
	var lastErr error
	for _, dt := range dtypesFor {
		err := gradCheckIn(t, e, dt, maxPoints, loss, inputs)
		if err == nil {
			if dt != dtypes.Float64 {
				logFallback(t, e, lastErr, dt)
			}
			return
		}
		lastErr = err
		if e.name == "go" || e.name == "go-composed" {
			break
		}
	}
	t.Fatalf("%s: %+v", e.name, lastErr)
}

// gradCheckIn returns an error only if the graph could not be built or run; mismatches fail the test.
func gradCheckIn(t *testing.T, e engine, dt dtypes.DType, maxPoints int, loss func(xs []*Node) *Node,
	inputs []arr,
) error {
	t.Helper()
	eps, atol, rtol := 1e-5, 1e-6, 1e-5
	if dt == dtypes.Float32 {
		eps, atol, rtol = 1e-2, 3e-3, 2e-2
	}
	gradExec, err := NewExec(e.be, func(xs []*Node) []*Node {
		l := loss(xs)
		return append([]*Node{l}, Gradient(l, xs...)...)
	})
	if err != nil {
		return err
	}
	defer gradExec.Finalize()
	lossExec, err := NewExec(e.be, func(xs []*Node) *Node { return loss(xs) })
	if err != nil {
		return err
	}
	defer lossExec.Finalize()

	args := make([]any, len(inputs))
	for i, a := range inputs {
		args[i] = a.tensor(dt)
	}
	outs, err := gradExec.Exec(args...)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(7, 11))
	lossAt := func(i int, x arr) float64 {
		moved := append([]any(nil), args...)
		moved[i] = x.tensor(dt)
		out, err := lossExec.Exec(moved...)
		if err != nil {
			t.Fatalf("loss: %+v", err)
		}
		return toArr(t, out[0]).data[0]
	}
	for i, a := range inputs {
		grad := toArr(t, outs[1+i])
		points := rng.Perm(len(a.data))
		if len(points) > maxPoints {
			points = points[:maxPoints]
		}
		bad := 0
		for _, j := range points {
			x := arr{dims: a.dims, data: append([]float64(nil), a.data...)}
			x.data[j] = a.data[j] + eps
			up := lossAt(i, x)
			x.data[j] = a.data[j] - eps
			down := lossAt(i, x)
			fd := (up - down) / (2 * eps)
			if d := math.Abs(fd - grad.data[j]); !(d <= atol+rtol*math.Max(math.Abs(fd), math.Abs(grad.data[j]))) {
				if bad < 5 {
					idx := make([]int, len(a.dims))
					index(j, a.dims, idx)
					t.Errorf("%s (%s): d loss / d input %d at %v = %.8g, finite difference %.8g", e.name, dt, i,
						idx, grad.data[j], fd)
				}
				bad++
			}
		}
		if bad > 0 {
			t.Errorf("%s (%s): input %d: %d of %d gradient values wrong", e.name, dt, i, bad, len(points))
		}
	}
	return nil
}

// weighted returns sum(y·w) for a fixed pseudo-random w: a loss whose gradient exercises every output.
func weighted(y *Node) *Node {
	dims := y.Shape().Dimensions
	w := make([]float64, size(dims))
	rng := rand.New(rand.NewPCG(3, 5))
	for i := range w {
		w[i] = 2*rng.Float64() - 1
	}
	wc := ConvertDType(Const(y.Graph(), tensors.FromFlatDataAndDimensions(w, dims...)), y.DType())
	return ReduceAllSum(Mul(y, wc))
}
