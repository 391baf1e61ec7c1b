package nn

import (
	"fmt"
	"math"
	"reflect"
	"runtime"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/slowai-go/course/slowai/nn/internal/nntest"
)

func tens(d []float64, dims ...int) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(d, dims...)
}

func TestLinear(t *testing.T) {
	x, w, b := randT(1, 2, 3, 4), randT(2, 5, 4), randT(3, 5)
	xd, wd, bd := nntest.Flat(x), nntest.Flat(w), nntest.Flat(b)
	want := make([]float64, 0, 2*3*5)
	for r := range 6 {
		for o := range 5 {
			s := bd[o]
			for i := range 4 {
				s += xd[r*4+i] * wd[o*4+i]
			}
			want = append(want, s)
		}
	}
	f := func(in []*Node) *Node { return Linear(in[0], in[1], in[2]) }
	noBias := func(in []*Node) *Node { return Add(Linear(in[0], in[1], nil), Reshape(in[2], 1, 1, 5)) }
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		checkForward(t, c, "Linear", f, want, []int{2, 3, 5}, c.FwdTol(), x, w, b)
		checkForward(t, c, "Linear(nil bias)+b", noBias, want, []int{2, 3, 5}, c.FwdTol(), x, w, b)
		checkGrad(t, c, "Linear", f, []int{0, 1, 2}, x, w, b)
	})
}

type convCase struct {
	name       string
	xd, wd     []int
	opt        ConvOpts
	bias       bool
	wantH      int
	wantW      int
	needsInDil bool // gradient needs input-dilated conv (strided) on the backend
}

var convCases = []convCase{
	{name: "3x3 pad1", xd: []int{2, 3, 5, 6}, wd: []int{4, 3, 3, 3}, opt: ConvOpts{Padding: Pair(1)}, bias: true, wantH: 5, wantW: 6},
	{name: "stride2 pad1 groups2", xd: []int{1, 4, 7, 6}, wd: []int{6, 2, 3, 3}, opt: ConvOpts{Stride: Pair(2), Padding: Pair(1), Groups: 2}, bias: true, wantH: 4, wantW: 3, needsInDil: true},
	{name: "dilation2 pad2 rect kernel", xd: []int{1, 2, 6, 7}, wd: []int{3, 2, 3, 2}, opt: ConvOpts{Dilation: Pair(2), Padding: [2]int{2, 1}}, bias: false, wantH: 6, wantW: 7},
	{name: "VAE down pad(0,1,0,1) stride2", xd: []int{1, 2, 6, 6}, wd: []int{2, 2, 3, 3}, opt: ConvOpts{Stride: Pair(2), PadHW: [2][2]int{{0, 1}, {0, 1}}}, bias: true, wantH: 3, wantW: 3, needsInDil: true},
	{name: "same even kernel", xd: []int{1, 2, 5, 5}, wd: []int{3, 2, 4, 4}, opt: ConvOpts{Same: true}, bias: true, wantH: 5, wantW: 5},
	{name: "k2 stride2 patchify", xd: []int{1, 2, 4, 6}, wd: []int{3, 2, 2, 2}, opt: ConvOpts{Stride: Pair(2)}, bias: true, wantH: 2, wantW: 3, needsInDil: true},
	{name: "k4 stride2 pad1", xd: []int{1, 2, 6, 6}, wd: []int{2, 2, 4, 4}, opt: ConvOpts{Stride: Pair(2), Padding: Pair(1)}, bias: true, wantH: 3, wantW: 3, needsInDil: true},
	{name: "k2 stride1", xd: []int{1, 2, 3, 4}, wd: []int{2, 2, 2, 2}, opt: ConvOpts{}, bias: false, wantH: 2, wantW: 3},
	{name: "depthwise 1x1 stride1", xd: []int{2, 4, 3, 3}, wd: []int{4, 1, 1, 1}, opt: ConvOpts{Groups: 4}, bias: true, wantH: 3, wantW: 3},
}

func TestConv2D(t *testing.T) {
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		for i, cc := range convCases {
			x, w, b := randT(uint64(10+i), cc.xd...), randT(uint64(20+i), cc.wd...), randT(uint64(30+i), cc.wd[0])
			var bd []float64
			if cc.bias {
				bd = nntest.Flat(b)
			}
			pads := cc.opt.ConvPaddings(cc.wd[2], cc.wd[3])
			want, wantDims := refConv2D(nntest.Flat(x), cc.xd, nntest.Flat(w), cc.wd, bd,
				[2]int{orOne(cc.opt.Stride[0]), orOne(cc.opt.Stride[1])},
				[2]int{orOne(cc.opt.Dilation[0]), orOne(cc.opt.Dilation[1])}, pads, orOne(cc.opt.Groups))
			if wantDims[2] != cc.wantH || wantDims[3] != cc.wantW {
				t.Fatalf("%s: reference output %v, expected spatial %dx%d", cc.name, wantDims, cc.wantH, cc.wantW)
			}
			opt, bias := cc.opt, cc.bias
			f := func(in []*Node) *Node {
				var bn *Node
				if bias {
					bn = in[2]
				}
				return Conv2D(in[0], in[1], bn, opt)
			}
			checkForward(t, c, "Conv2D "+cc.name, f, want, wantDims, 10*c.FwdTol(), x, w, b)
			wrt := []int{0, 1}
			if bias {
				wrt = append(wrt, 2)
			}
			checkGrad(t, c, "Conv2D "+cc.name, f, wrt, x, w, b)
		}
	})
}

func TestGroupNormLayerNorm(t *testing.T) {
	x, gamma, beta := randT(40, 2, 6, 3, 2), randT(41, 6), randT(42, 6)
	want := refGroupNorm(nntest.Flat(x), 2, 6, 6, 3, nntest.Flat(gamma), nntest.Flat(beta), 1e-5)
	gn := func(in []*Node) *Node { return GroupNorm(in[0], in[1], in[2], 3, 1e-5) }
	xs := randT(43, 2, 3, 5)
	lg, lb := randT(44, 5), randT(45, 5)
	wantLN := refLayerNorm(nntest.Flat(xs), 5, nntest.Flat(lg), nntest.Flat(lb), 1e-5)
	ln := func(in []*Node) *Node { return LayerNorm(in[0], in[1], in[2], 1e-5) }
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		checkForward(t, c, "GroupNorm", gn, want, []int{2, 6, 3, 2}, 10*c.FwdTol(), x, gamma, beta)
		checkGrad(t, c, "GroupNorm", gn, []int{0, 1, 2}, x, gamma, beta)
		checkForward(t, c, "LayerNorm", ln, wantLN, []int{2, 3, 5}, 10*c.FwdTol(), xs, lg, lb)
		checkGrad(t, c, "LayerNorm", ln, []int{0, 1, 2}, xs, lg, lb)
	})
}

func TestBatchNorm(t *testing.T) {
	const B, C, S = 3, 2, 4
	x, gamma, beta := randT(50, B, C, 2, 2), randT(51, C), randT(52, C)
	rm, rv := tens([]float64{0.3, -0.2}, C), tens([]float64{1.5, 0.7}, C)
	xd, gd, bd := nntest.Flat(x), nntest.Flat(gamma), nntest.Flat(beta)
	// Training: per-channel batch statistics.
	wantTrain := make([]float64, len(xd))
	wantMean, wantVar := make([]float64, C), make([]float64, C)
	for ch := range C {
		var vals []float64
		for n := range B {
			vals = append(vals, xd[(n*C+ch)*S:(n*C+ch+1)*S]...)
		}
		normed := refNormChunks(vals, len(vals), 1e-5)
		for _, v := range vals {
			wantMean[ch] += v / float64(len(vals))
		}
		for _, v := range vals {
			wantVar[ch] += (v - wantMean[ch]) * (v - wantMean[ch]) / float64(len(vals))
		}
		for n := range B {
			for k := range S {
				wantTrain[(n*C+ch)*S+k] = normed[n*S+k]*gd[ch] + bd[ch]
			}
		}
	}
	wantInfer := make([]float64, len(xd))
	rmd, rvd := nntest.Flat(rm), nntest.Flat(rv)
	for i, v := range xd {
		ch := (i / S) % C
		wantInfer[i] = (v-rmd[ch])/math.Sqrt(rvd[ch]+1e-5)*gd[ch] + bd[ch]
	}
	train := func(in []*Node) *Node {
		y, _, _ := BatchNorm(in[0], in[1], in[2], nil, nil, true, 1e-5)
		return y
	}
	stats := func(in []*Node) *Node {
		_, m, v := BatchNorm(in[0], in[1], in[2], nil, nil, true, 1e-5)
		return Concatenate([]*Node{m, v}, 0)
	}
	infer := func(in []*Node) *Node {
		y, _, _ := BatchNorm(in[0], in[1], in[2], in[3], in[4], false, 1e-5)
		return y
	}
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		checkForward(t, c, "BatchNorm train", train, wantTrain, []int{B, C, 2, 2}, 10*c.FwdTol(), x, gamma, beta)
		checkForward(t, c, "BatchNorm stats", stats, append(wantMean, wantVar...), []int{2 * C}, 10*c.FwdTol(), x, gamma, beta)
		checkForward(t, c, "BatchNorm infer", infer, wantInfer, []int{B, C, 2, 2}, 10*c.FwdTol(), x, gamma, beta, rm, rv)
		checkGrad(t, c, "BatchNorm train", train, []int{0, 1, 2}, x, gamma, beta)
		checkGrad(t, c, "BatchNorm infer", infer, []int{0, 1, 2}, x, gamma, beta, rm, rv)
	})
}

func TestPooling(t *testing.T) {
	cases := []struct {
		op      string
		k, s, p int
		dims    []int
	}{
		{"max", 3, 2, 1, []int{1, 2, 5, 6}},
		{"max", 2, 2, 0, []int{2, 1, 4, 4}},
		{"avg", 3, 2, 1, []int{1, 2, 5, 6}},
		{"avg", 2, 2, 0, []int{2, 1, 4, 6}}, // reshape fast path
		{"avg", 3, 1, 0, []int{1, 2, 4, 5}},
	}
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		for i, pc := range cases {
			x := randT(uint64(60+i), pc.dims...)
			want, wantDims := refPool(nntest.Flat(x), pc.dims, pc.op, pc.k, pc.s, pc.p)
			f := func(in []*Node) *Node {
				if pc.op == "max" {
					return MaxPool2D(in[0], pc.k, pc.s, pc.p)
				}
				return AvgPool2D(in[0], pc.k, pc.s, pc.p)
			}
			name := fmt.Sprintf("%sPool k%d s%d p%d", pc.op, pc.k, pc.s, pc.p)
			checkForward(t, c, name, f, want, wantDims, c.FwdTol(), x)
			checkGrad(t, c, name, f, []int{0}, x)
		}
		x := randT(69, 2, 3, 2, 2)
		xd := nntest.Flat(x)
		want := make([]float64, 6)
		for i := range want {
			want[i] = (xd[4*i] + xd[4*i+1] + xd[4*i+2] + xd[4*i+3]) / 4
		}
		gap := func(in []*Node) *Node { return GlobalAvgPool2D(in[0]) }
		checkForward(t, c, "GlobalAvgPool2D", gap, want, []int{2, 3}, c.FwdTol(), x)
		checkGrad(t, c, "GlobalAvgPool2D", gap, []int{0}, x)
	})
}

func TestUpsample(t *testing.T) {
	// Nearest: each input pixel becomes a factor x factor block.
	x := randT(70, 1, 2, 2, 3)
	xd := nntest.Flat(x)
	var wantNN []float64
	for ch := range 2 {
		for i := range 4 {
			for j := range 6 {
				wantNN = append(wantNN, xd[(ch*2+i/2)*3+j/2])
			}
		}
	}
	nn := func(in []*Node) *Node { return UpsampleNearest2D(in[0], 2) }

	// Bilinear, align_corners=False. For [[1,2],[3,4]] -> 4x4, each axis maps with source coordinates
	// (i+0.5)/2-0.5 = -0.25(->0), 0.25, 0.75, 1.25(->1 clamped at the last row): weights (1,0), (.75,.25),
	// (.25,.75), (0,1); so row 0 is 1, 1.25, 1.75, 2 -- the values torch.nn.functional.interpolate prints.
	sq := tens([]float64{1, 2, 3, 4}, 1, 1, 2, 2)
	wantSq := []float64{
		1, 1.25, 1.75, 2,
		1.5, 1.75, 2.25, 2.5,
		2.5, 2.75, 3.25, 3.5,
		3, 3.25, 3.75, 4,
	}
	up4 := func(in []*Node) *Node { return UpsampleBilinear2D(in[0], 4, 4) }
	// Non-integer ratio 3 -> 5 along W (scale 0.6): sources -0.2(->0), 0.4, 1.0, 1.6, 2.2(->2 clamped), so
	// [0, 10, 20] -> [0, 4, 10, 16, 20]; and 2 -> 1 along H: source (0.5)*2-0.5 = 0.5, the mean of both rows.
	rows := tens([]float64{0, 10, 20, 100, 110, 120}, 1, 1, 2, 3)
	wantRows := []float64{50, 54, 60, 66, 70}
	up15 := func(in []*Node) *Node { return UpsampleBilinear2D(in[0], 1, 5) }
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		checkForward(t, c, "UpsampleNearest2D", nn, wantNN, []int{1, 2, 4, 6}, c.FwdTol(), x)
		checkGrad(t, c, "UpsampleNearest2D", nn, []int{0}, x)
		checkForward(t, c, "UpsampleBilinear2D 2->4", up4, wantSq, []int{1, 1, 4, 4}, 1e-5, sq)
		checkForward(t, c, "UpsampleBilinear2D (2,3)->(1,5)", up15, wantRows, []int{1, 1, 1, 5}, 1e-4, rows)
		checkGrad(t, c, "UpsampleBilinear2D", func(in []*Node) *Node { return UpsampleBilinear2D(in[0], 5, 4) }, []int{0}, x)
	})
}

func TestAttention(t *testing.T) {
	const B, Tq, Tk, C, H = 2, 3, 4, 4, 2
	q, k, v := randT(80, B, Tq, C), randT(81, B, Tk, C), randT(82, B, Tk, C)
	qd, kd, vd := nntest.Flat(q), nntest.Flat(k), nntest.Flat(v)
	// Self-attention, causal.
	selfQ := randT(83, B, Tq, C)
	sd := nntest.Flat(selfQ)
	wantCausal := refAttention(sd, sd, sd, B, Tq, Tq, C, H, true, nil)
	causal := func(in []*Node) *Node { return Attention(in[0], in[0], in[0], H, nil, true) }
	// Cross-attention with a boolean key-padding mask [B,1,1,Tk]: batch 1 cannot see its last key.
	keep := []bool{true, true, true, true, true, true, true, false}
	boolMask := tensors.FromFlatDataAndDimensions(keep, B, 1, 1, Tk)
	wantBool := refAttention(qd, kd, vd, B, Tq, Tk, C, H, false, func(b, h, i, j int) (bool, float64) { return keep[b*Tk+j], 0 })
	crossBool := func(in []*Node) *Node { return Attention(in[0], in[1], in[2], H, in[3], false) }
	// Additive float mask [Tq, Tk] broadcast over batch and heads.
	add := randT(84, Tq, Tk)
	ad := nntest.Flat(add)
	wantAdd := refAttention(qd, kd, vd, B, Tq, Tk, C, H, false, func(b, h, i, j int) (bool, float64) { return true, ad[i*Tk+j] })
	crossAdd := func(in []*Node) *Node { return Attention(in[0], in[1], in[2], H, in[3], false) }
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		checkForward(t, c, "Attention causal", causal, wantCausal, []int{B, Tq, C}, 10*c.FwdTol(), selfQ)
		checkGrad(t, c, "Attention causal", causal, []int{0}, selfQ)
		checkForward(t, c, "Attention bool mask", crossBool, wantBool, []int{B, Tq, C}, 10*c.FwdTol(), q, k, v, boolMask)
		checkGrad(t, c, "Attention bool mask", crossBool, []int{0, 1, 2}, q, k, v, boolMask)
		checkForward(t, c, "Attention additive mask", crossAdd, wantAdd, []int{B, Tq, C}, 10*c.FwdTol(), q, k, v, add)
		checkGrad(t, c, "Attention additive mask", crossAdd, []int{0, 1, 2, 3}, q, k, v, add)
	})
}

func TestActivations(t *testing.T) {
	x := randT(90, 3, 8)
	xd := nntest.Flat(x)
	sig := func(v float64) float64 { return 1 / (1 + math.Exp(-v)) }
	cases := []struct {
		name string
		f    func(*Node) *Node
		ref  func(float64) float64
	}{
		{"GELU", GELU, func(v float64) float64 { return v * 0.5 * (1 + math.Erf(v/math.Sqrt2)) }},
		{"QuickGELU", QuickGELU, func(v float64) float64 { return v * sig(1.702*v) }},
		{"SiLU", SiLU, func(v float64) float64 { return v * sig(v) }},
		{"GELUTanh", GELUTanh, func(v float64) float64 {
			return 0.5 * v * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(v+0.044715*v*v*v)))
		}},
		{"Mish", Mish, func(v float64) float64 { return v * math.Tanh(math.Log1p(math.Exp(v))) }},
		{"ReLU", ReLU, func(v float64) float64 { return math.Max(v, 0) }},
		{"LeakyReLU", func(x *Node) *Node { return LeakyReLU(x, 0.1) }, func(v float64) float64 {
			if v < 0 {
				return 0.1 * v
			}
			return v
		}},
		{"GeneralReLU", func(x *Node) *Node { return GeneralReLU(x, 0.1, 0.4, 0.8) }, func(v float64) float64 {
			if v < 0 {
				v *= 0.1
			}
			return math.Min(v-0.4, 0.8)
		}},
		{"GeneralReLU plain", func(x *Node) *Node { return GeneralReLU(x, 0, 0.5, 0) }, func(v float64) float64 {
			return math.Max(v, 0) - 0.5
		}},
	}
	// GEGLU: halves (a, gate) of the projection, a * GELU(gate).
	w, b := randT(91, 6, 8), randT(92, 6)
	wd, bd := nntest.Flat(w), nntest.Flat(b)
	var wantGEGLU []float64
	for r := range 3 {
		h := make([]float64, 6)
		for o := range 6 {
			h[o] = bd[o]
			for i := range 8 {
				h[o] += xd[r*8+i] * wd[o*8+i]
			}
		}
		for o := range 3 {
			wantGEGLU = append(wantGEGLU, h[o]*cases[0].ref(h[3+o]))
		}
	}
	geglu := func(in []*Node) *Node { return GEGLU(in[0], in[1], in[2]) }
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		// Keep ReLU kinks further than the finite-difference step from the inputs.
		xg := make([]float64, len(xd))
		for i, v := range xd {
			xg[i] = v + math.Copysign(0.1, v)
		}
		for _, ac := range cases {
			want := make([]float64, len(xd))
			for i, v := range xd {
				want[i] = ac.ref(v)
			}
			f := func(in []*Node) *Node { return ac.f(in[0]) }
			checkForward(t, c, ac.name, f, want, []int{3, 8}, 10*c.FwdTol(), x)
			checkGrad(t, c, ac.name, f, []int{0}, tens(xg, 3, 8))
		}
		checkForward(t, c, "GEGLU", geglu, wantGEGLU, []int{3, 3}, 10*c.FwdTol(), x, w, b)
		checkGrad(t, c, "GEGLU", geglu, []int{0, 1, 2}, x, w, b)
	})
}

// Activation maps each config name to its function and rejects names it does not know.
func TestActivationNames(t *testing.T) {
	want := map[string]func(*Node) *Node{"silu": SiLU, "swish": SiLU, "gelu": GELU, "gelu_new": GELUTanh,
		"gelu_pytorch_tanh": GELUTanh, "gelu_fast": GELUTanh, "quick_gelu": QuickGELU, "relu": ReLU, "mish": Mish}
	for name, f := range want {
		got, err := Activation(name)
		if err != nil || reflect.ValueOf(got).Pointer() != reflect.ValueOf(f).Pointer() {
			t.Errorf("Activation(%q) = %v, %v; want %v", name, runtime.FuncForPC(reflect.ValueOf(got).Pointer()).Name(), err,
				runtime.FuncForPC(reflect.ValueOf(f).Pointer()).Name())
		}
	}
	if _, err := Activation("tanh"); err == nil || !strings.Contains(err.Error(), `"tanh"`) {
		t.Errorf("Activation(\"tanh\") error = %v, want one naming it", err)
	}
}

func TestEmbedding(t *testing.T) {
	table := randT(100, 5, 3)
	td := nntest.Flat(table)
	ids := tensors.FromValue([][]int32{{4, 0, 2}, {2, 2, 1}})
	var want []float64
	for _, id := range []int{4, 0, 2, 2, 2, 1} {
		want = append(want, td[id*3:id*3+3]...)
	}
	f := func(in []*Node) *Node { return Embedding(in[1], in[0]) }
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		checkForward(t, c, "Embedding", f, want, []int{2, 3, 3}, c.FwdTol(), table, ids)
		checkGrad(t, c, "Embedding", f, []int{0}, table, ids)
	})
}

func TestDropout(t *testing.T) {
	const n = 20000
	ones := tensors.FromFlatDataAndDimensions(make([]float64, n), n)
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		// Training: about rate of the elements are zero, the rest are 1/(1-rate); the mean stays near 1.
		got, _ := runF(t, c, func(in []*Node) *Node {
			x := OnesLike(in[0])
			y, _ := Dropout(x, 0.25, true, RNGStateFromSeedForGraph(x.Graph(), 7))
			return y
		}, ones)
		zeros, sum := 0, 0.0
		for _, v := range got {
			switch {
			case v == 0:
				zeros++
			case math.Abs(v-1/0.75) > 1e-5:
				t.Fatalf("Dropout kept value %g, want 0 or %g", v, 1/0.75)
			}
			sum += v
		}
		// Binomial(20000, 0.25): standard deviation of the zero fraction is ~0.003; allow 5 sigma.
		if frac := float64(zeros) / n; math.Abs(frac-0.25) > 0.015 {
			t.Errorf("Dropout zeroed %.4f of elements, want 0.25", frac)
		}
		if mean := sum / n; math.Abs(mean-1) > 0.03 {
			t.Errorf("Dropout mean %.4f, want ~1", mean)
		}
		// Evaluation is the identity.
		x := randT(110, 4, 5)
		checkForward(t, c, "Dropout eval", func(in []*Node) *Node {
			y, _ := Dropout(in[0], 0.5, false, nil)
			return y
		}, nntest.Flat(x), []int{4, 5}, c.FwdTol(), x)
		// DropoutWithNoise is exact given the noise.
		u := tens([]float64{0.1, 0.6, 0.49, 0.5}, 4)
		xv := tens([]float64{1, 2, 3, 4}, 4)
		checkForward(t, c, "DropoutWithNoise", func(in []*Node) *Node {
			return DropoutWithNoise(in[0], in[1], 0.5)
		}, []float64{0, 4, 0, 8}, []int{4}, 1e-6, xv, u)
	})
	_ = dtypes.Float32
}

// TestAttentionInBlocks forces ScaledDotProductAttention to split the queries into uneven blocks
// (2, 2, 1) and checks masks, the causal offset and gradients against the same reference.
func TestAttentionInBlocks(t *testing.T) {
	const B, Tq, Tk, C, H = 2, 5, 4, 4, 2
	saved := MaxAttentionScores
	MaxAttentionScores = 2 * B * H * Tq // two queries' scores in self-attention (Tk = Tq)
	defer func() { MaxAttentionScores = saved }()
	if got := queryBlock([]int{B, H, Tq, Tq}); got != 2 {
		t.Fatalf("queryBlock = %d, want 2", got)
	}
	selfQ := randT(85, B, Tq, C)
	sd := nntest.Flat(selfQ)
	wantCausal := refAttention(sd, sd, sd, B, Tq, Tq, C, H, true, nil)
	causal := func(in []*Node) *Node { return Attention(in[0], in[0], in[0], H, nil, true) }
	q, k, v := randT(86, B, Tq, C), randT(87, B, Tk, C), randT(88, B, Tk, C)
	qd, kd, vd := nntest.Flat(q), nntest.Flat(k), nntest.Flat(v)
	add := randT(89, Tq, Tk)
	ad := nntest.Flat(add)
	wantAdd := refAttention(qd, kd, vd, B, Tq, Tk, C, H, false, func(b, h, i, j int) (bool, float64) { return true, ad[i*Tk+j] })
	crossAdd := func(in []*Node) *Node { return Attention(in[0], in[1], in[2], H, in[3], false) }
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		checkForward(t, c, "blocked causal", causal, wantCausal, []int{B, Tq, C}, 10*c.FwdTol(), selfQ)
		checkGrad(t, c, "blocked causal", causal, []int{0}, selfQ)
		checkForward(t, c, "blocked additive mask", crossAdd, wantAdd, []int{B, Tq, C}, 10*c.FwdTol(), q, k, v, add)
		checkGrad(t, c, "blocked additive mask", crossAdd, []int{0, 1, 2, 3}, q, k, v, add)
	})
}
