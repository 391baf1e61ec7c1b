package resnet

import (
	"fmt"
	"math"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/nn/module"
)

// TestParamCount checks WORKLOADS.md's 1,225,588 and that the plain variant lacks exactly the five
// 1x1 identity convolutions (16+512+2048+8192+32768 weights).
func TestParamCount(t *testing.T) {
	s, _ := New(false)
	if got := int(s.NumTrainable()); got != 1_225_588 {
		t.Errorf("residual W7 has %d trainable parameters, want 1,225,588", got)
	}
	p, _ := New(true)
	if got, want := int(p.NumTrainable()), 1_225_588-(16+512+2048+8192+32768); got != want {
		t.Errorf("plain W7 has %d trainable parameters, want %d", got, want)
	}
}

// TestShapes runs a batch of 2 through both variants in training mode and checks every layer's
// output shape (28 -> 14 -> 7 -> 4 -> 2).
func TestShapes(t *testing.T) {
	want := map[string][]int{"res0": {2, 16, 28, 28}, "res1": {2, 32, 14, 14}, "res2": {2, 64, 7, 7},
		"res3": {2, 128, 4, 4}, "res4": {2, 256, 2, 2}, "pool": {2, 256}, "lin": {2, 10}, "bn": {2, 10}}
	for _, plain := range []bool{false, true} {
		s, seq := New(plain)
		checkForward(t, fmt.Sprintf("New(%v)", plain), s, seq, want)
	}
}

// TestPlainCNN checks PlainCNN's parameter count against a hand count and its layers' output shapes.
func TestPlainCNN(t *testing.T) {
	s, seq := PlainCNN()
	// Each layer: a 3x3 kernel in*out*9 and BatchNorm's weight and bias 2*out; the head: Linear
	// 256*10 and BatchNorm1d 2*10.
	want := 0
	for _, c := range [][2]int{{1, 16}, {16, 32}, {32, 64}, {64, 128}, {128, 256}} {
		want += c[0]*c[1]*9 + 2*c[1]
	}
	want += 256*10 + 2*10
	if want != 395_396 {
		t.Fatalf("hand count %d disagrees with the doc comment's 395,396", want)
	}
	if got := int(s.NumTrainable()); got != want {
		t.Errorf("PlainCNN has %d trainable parameters, want %d", got, want)
	}
	checkForward(t, "PlainCNN", s, seq, map[string][]int{"conv0": {2, 16, 28, 28}, "conv1": {2, 32, 14, 14},
		"conv2": {2, 64, 7, 7}, "conv3": {2, 128, 4, 4}, "conv4": {2, 256, 2, 2}, "pool": {2, 256}, "lin": {2, 10}, "bn": {2, 10}})
}

// checkForward runs a batch of 2 through seq in training mode and checks each tapped layer's
// output shape against want (which must name every layer) and the final BatchNorm's output.
func checkForward(t *testing.T, what string, s *module.Specs, seq *module.Sequential, want map[string][]int) {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*28*28)
	for i := range x {
		x[i] = float32(math.Sin(float64(i) * 0.37))
	}
	v := module.NewVars("/w7")
	if err := module.Randomize(v, s, 1); err != nil {
		t.Fatal(err)
	}
	var names []string
	var shapes [][]int
	outs, err := model.ExecOnceN(be, v.Store, func(_ *model.Scope, in []*Node) []*Node {
		vv := v
		vv.Train = true
		vv.Taps = &module.Taps{}
		y := seq.Apply(vv, in[0])
		for i, n := range vv.Taps.Nodes {
			names = append(names, vv.Taps.Names[i])
			shapes = append(shapes, n.Shape().Dimensions)
		}
		return []*Node{y}
	}, tensors.FromFlatDataAndDimensions(x, 2, 1, 28, 28))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(want) {
		t.Fatalf("%s: taps %v, want %d layers", what, names, len(want))
	}
	for i, n := range names {
		if !slices.Equal(shapes[i], want[n]) {
			t.Errorf("%s: %s output %v, want %v", what, n, shapes[i], want[n])
		}
	}
	// The last BatchNorm normalises each logit over the batch of 2 (weight 1, bias 0 at init): the two
	// examples' values are opposite, d/sqrt(d²+eps) and its negative, so at most 1 in size.
	y := tensors.MustCopyFlatData[float32](outs[0])
	for k := range 10 {
		a, b := float64(y[k]), float64(y[10+k])
		if math.IsNaN(a) || math.Abs(a+b) > 1e-4 || math.Abs(a) > 1+1e-6 {
			t.Errorf("%s: logit %d = %v, %v, want opposite values of size <= 1", what, k, a, b)
		}
	}
}

// TestAvgPool2Ceil checks ceil-mode pooling of a 3x5 grid against a hand computation (edge windows
// average only the values that exist) and its gradient: d(sum of outputs)/dx = 1/window size.
func TestAvgPool2Ceil(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	const H, W = 3, 5
	x := make([]float32, H*W)
	for i := range x {
		x[i] = float32(i * i % 7)
	}
	outs := MustExecOnceN(be, func(x *Node) []*Node {
		y := AvgPool2Ceil(x)
		return []*Node{y, Gradient(ReduceAllSum(y), x)[0]}
	}, tensors.FromFlatDataAndDimensions(x, 1, 1, H, W))
	if got := outs[0].Shape().Dimensions; !slices.Equal(got, []int{1, 1, 2, 3}) {
		t.Fatalf("shape %v, want [1 1 2 3]", got)
	}
	y, grad := tensors.MustCopyFlatData[float32](outs[0]), tensors.MustCopyFlatData[float32](outs[1])
	for i := range 2 {
		for j := range 3 {
			var sum float64
			n := 0
			for r := 2 * i; r < min(2*i+2, H); r++ {
				for c := 2 * j; c < min(2*j+2, W); c++ {
					sum += float64(x[r*W+c])
					n++
				}
			}
			if got := float64(y[i*3+j]); math.Abs(got-sum/float64(n)) > 1e-5 {
				t.Errorf("y[%d,%d] = %v, want %v", i, j, got, sum/float64(n))
			}
			for r := 2 * i; r < min(2*i+2, H); r++ {
				for c := 2 * j; c < min(2*j+2, W); c++ {
					if got := float64(grad[r*W+c]); math.Abs(got-1/float64(n)) > 1e-6 {
						t.Errorf("grad[%d,%d] = %v, want %v", r, c, got, 1/float64(n))
					}
				}
			}
		}
	}
}
