package nn

import (
	"fmt"
	"math"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/support/exceptions"
)

// Linear is torch.nn.functional.linear: x[..., in] @ w^T + b, with w [out, in] and b [out] (b may be nil).
// The weight keeps PyTorch's [out, in] layout so checkpoints load without transposing.
func Linear(x, w, b *Node) *Node {
	if w.Rank() != 2 {
		exceptions.Panicf("nn.Linear: weight must be [out, in], got shape %s", w.Shape())
	}
	in := x.Shape().Dimensions[x.Rank()-1]
	if w.Shape().Dimensions[1] != in {
		exceptions.Panicf("nn.Linear: weight %s expects %d input features, x %s has %d",
			w.Shape(), w.Shape().Dimensions[1], x.Shape(), in)
	}
	y := DotGeneral(x, []int{x.Rank() - 1}, nil, w, []int{1}, nil)
	if b != nil {
		y = Add(y, reshapeLast(b, y.Rank()))
	}
	return y
}

// reshapeLast reshapes a vector [n] to [1, ..., 1, n] of the given rank, so it broadcasts over the last axis.
func reshapeLast(v *Node, rank int) *Node {
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[rank-1] = v.Shape().Size()
	return Reshape(v, dims...)
}

// reshapeChannel reshapes a vector [C] to [1, C, 1, ...] of the given rank, to broadcast over axis 1 (NCHW).
func reshapeChannel(v *Node, rank int) *Node {
	dims := make([]int, rank)
	for i := range dims {
		dims[i] = 1
	}
	dims[1] = v.Shape().Size()
	return Reshape(v, dims...)
}

// ConvOpts configures Conv2D like torch.nn.Conv2d. Zero values mean PyTorch's defaults
// (stride 1, no padding, dilation 1, one group).
type ConvOpts struct {
	// Stride is (sH, sW); a zero entry means 1.
	Stride [2]int
	// Padding is symmetric zero padding (pH, pW), as torch's padding=(pH, pW).
	Padding [2]int
	// PadHW is extra explicit padding {{top, bottom}, {left, right}}, added to Padding. It expresses
	// asymmetric padding such as SD's VAE downsampler F.pad(x, (0, 1, 0, 1)) -> PadHW: {{0, 1}, {0, 1}}.
	PadHW [2][2]int
	// Same is torch's padding="same" (output spatial size equals input size; stride must be 1). When set,
	// Padding and PadHW are ignored. Extra odd padding goes after, as in PyTorch.
	Same bool
	// Dilation is (dH, dW); a zero entry means 1.
	Dilation [2]int
	// Groups splits input and output channels into groups; 0 means 1.
	Groups int
}

// Pair returns [2]int{n, n}, for the common square strides, paddings and dilations.
func Pair(n int) [2]int { return [2]int{n, n} }

func orOne(v int) int {
	if v <= 0 {
		return 1
	}
	return v
}

// ConvPaddings returns the resolved {{top, bottom}, {left, right}} padding of opt for a kernel of size (kh, kw).
func (opt ConvOpts) ConvPaddings(kh, kw int) [2][2]int {
	var p [2][2]int
	ks := [2]int{kh, kw}
	for i := range 2 {
		if opt.Same {
			total := orOne(opt.Dilation[i]) * (ks[i] - 1)
			p[i] = [2]int{total / 2, total - total/2}
			continue
		}
		p[i] = [2]int{opt.Padding[i] + opt.PadHW[i][0], opt.Padding[i] + opt.PadHW[i][1]}
	}
	return p
}

// Conv2D is torch.nn.functional.conv2d on NCHW input x [B, Cin, H, W] with weight w [Cout, Cin/groups, kh, kw]
// and bias b [Cout] (may be nil). Output is [B, Cout, H', W'] with
// H' = floor((H + padTop + padBottom - dH*(kh-1) - 1) / sH) + 1.
func Conv2D(x, w, b *Node, opt ConvOpts) *Node {
	if x.Rank() != 4 || w.Rank() != 4 {
		exceptions.Panicf("nn.Conv2D: want x [B,C,H,W] and weight [O,I/groups,kh,kw], got x %s, weight %s", x.Shape(), w.Shape())
	}
	groups := orOne(opt.Groups)
	cin := x.Shape().Dimensions[1]
	if cin%groups != 0 || w.Shape().Dimensions[1]*groups != cin || w.Shape().Dimensions[0]%groups != 0 {
		exceptions.Panicf("nn.Conv2D: x %s with %d groups does not fit weight %s (want [O, %d/%d, kh, kw], O divisible by groups)",
			x.Shape(), groups, w.Shape(), cin, groups)
	}
	if opt.Same && (orOne(opt.Stride[0]) != 1 || orOne(opt.Stride[1]) != 1) {
		exceptions.Panicf("nn.Conv2D: padding \"same\" requires stride 1, as in PyTorch")
	}
	kh, kw := w.Shape().Dimensions[2], w.Shape().Dimensions[3]
	p := opt.ConvPaddings(kh, kw)
	axes := compute.ConvolveAxesConfig{
		InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
		KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: []int{2, 3},
		OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3},
	}
	strides := []int{orOne(opt.Stride[0]), orOne(opt.Stride[1])}
	dil := []int{orOne(opt.Dilation[0]), orOne(opt.Dilation[1])}
	conv := func(w *Node, p [2][2]int) *Node {
		return ConvGeneral(x, w, axes, strides, [][2]int{p[0], p[1]}, nil, dil, groups, 1)
	}
	var y *Node
	if kh%2 == 1 && kw%2 == 1 {
		y = conv(w, p)
	} else {
		// GoMLX v0.28.2 differentiates a convolution with respect to its input off by one position when the
		// kernel has an even size. The same convolution written with an odd kernel (a zero row/column appended,
		// and the padding after it grown by the dilation so the output size is unchanged) differentiates
		// correctly, so the forward pass runs the plain convolution and the gradient flows through the odd one.
		odd := func() *Node {
			w2, p2 := w, p
			if kh%2 == 0 {
				d := w2.Shape().Dimensions
				w2 = Concatenate([]*Node{w2, Zeros(w.Graph(), shapes.Make(w.DType(), d[0], d[1], 1, d[3]))}, 2)
				p2[0][1] += dil[0]
			}
			if kw%2 == 0 {
				d := w2.Shape().Dimensions
				w2 = Concatenate([]*Node{w2, Zeros(w.Graph(), shapes.Make(w.DType(), d[0], d[1], d[2], 1))}, 3)
				p2[1][1] += dil[1]
			}
			return conv(w2, p2)
		}
		y, _ = InternalFusedOpCaller(func() *Node { return conv(w, p) }, odd, true)
	}
	if b != nil {
		y = Add(y, reshapeChannel(b, 4))
	}
	return y
}

// normalize returns (x - mean) / sqrt(var + eps) over the given axes, with the biased variance as PyTorch's norms use.
// It avoids Rsqrt, which not every backend has.
func normalize(x *Node, eps float64, axes ...int) *Node {
	mean := ReduceAndKeep(x, ReduceMean, axes...)
	centered := Sub(x, mean)
	variance := ReduceAndKeep(Square(centered), ReduceMean, axes...)
	return Div(centered, Sqrt(AddScalar(variance, eps)))
}

// GroupNorm is torch.nn.functional.group_norm: x [B, C, ...] is split into groups of C/groups channels,
// each normalised over its channels and all spatial positions, then scaled by gamma [C] and shifted by
// beta [C] (either may be nil).
func GroupNorm(x, gamma, beta *Node, groups int, eps float64) *Node {
	dims := x.Shape().Dimensions
	if x.Rank() < 2 || groups <= 0 || dims[1]%groups != 0 {
		exceptions.Panicf("nn.GroupNorm: x %s must be [B, C, ...] with C divisible by groups=%d", x.Shape(), groups)
	}
	// [B, G, C/G, rest]: the statistics are per (batch, group); gamma and beta per channel.
	cg := dims[1] / groups
	y := Reshape(x, dims[0], groups, cg, -1)
	mean := ReduceAndKeep(y, ReduceMean, 2, 3)
	centered := Sub(y, mean)
	variance := ReduceAndKeep(Square(centered), ReduceMean, 2, 3)
	// 1/σ and gamma are folded into one per-(batch, channel) scale, so the full-size tensor is
	// multiplied once instead of divided by σ and then multiplied by gamma: one pass fewer over the
	// activations each way, which made lesson 13's U-Net training step 7% faster on onnx (A/B in one process).
	scale := Inverse(Sqrt(AddScalar(variance, eps)))
	if gamma != nil {
		scale = Mul(scale, Reshape(gamma, 1, groups, cg, 1))
	}
	y = Mul(centered, scale)
	if beta != nil {
		y = Add(y, Reshape(beta, 1, groups, cg, 1))
	}
	return Reshape(y, dims...)
}

func affineChannel(y, gamma, beta *Node) *Node {
	if gamma != nil {
		y = Mul(y, reshapeChannel(gamma, y.Rank()))
	}
	if beta != nil {
		y = Add(y, reshapeChannel(beta, y.Rank()))
	}
	return y
}

// LayerNorm is torch.nn.functional.layer_norm over the last axis: gamma and beta are [C] (either may be nil).
func LayerNorm(x, gamma, beta *Node, eps float64) *Node {
	y := normalize(x, eps, x.Rank()-1)
	if gamma != nil {
		y = Mul(y, reshapeLast(gamma, y.Rank()))
	}
	if beta != nil {
		y = Add(y, reshapeLast(beta, y.Rank()))
	}
	return y
}

// BatchNorm is torch.nn.functional.batch_norm on x [B, C, ...]. With training true it normalises with the batch
// statistics over every axis but 1 and returns them (mean, biased variance, each [C]) so a caller can update
// running averages; otherwise it uses runningMean and runningVar ([C]) and returns them unchanged.
// gamma and beta ([C]) may be nil.
func BatchNorm(x, gamma, beta, runningMean, runningVar *Node, training bool, eps float64) (y, mean, variance *Node) {
	if x.Rank() < 2 {
		exceptions.Panicf("nn.BatchNorm: x %s must be [B, C, ...]", x.Shape())
	}
	axes := make([]int, 0, x.Rank()-1)
	for i := range x.Rank() {
		if i != 1 {
			axes = append(axes, i)
		}
	}
	if training {
		m := ReduceAndKeep(x, ReduceMean, axes...)
		centered := Sub(x, m)
		v := ReduceAndKeep(Square(centered), ReduceMean, axes...)
		y = Div(centered, Sqrt(AddScalar(v, eps)))
		mean, variance = Reshape(m, -1), Reshape(v, -1)
	} else {
		if runningMean == nil || runningVar == nil {
			exceptions.Panicf("nn.BatchNorm: inference needs runningMean and runningVar")
		}
		m, v := reshapeChannel(runningMean, x.Rank()), reshapeChannel(runningVar, x.Rank())
		y = Div(Sub(x, m), Sqrt(AddScalar(v, eps)))
		mean, variance = runningMean, runningVar
	}
	return affineChannel(y, gamma, beta), mean, variance
}

// poolWindow runs a ReduceWindow over the two spatial axes of an NCHW tensor.
func poolWindow(x *Node, op compute.ReduceOpType, kernel, stride, padding int) *Node {
	if x.Rank() != 4 {
		exceptions.Panicf("nn pooling: x must be [B, C, H, W], got %s", x.Shape())
	}
	if stride <= 0 {
		stride = kernel
	}
	p := [2]int{padding, padding}
	return BackendReduceWindow(x, op, []int{1, 1, kernel, kernel}, []int{1, 1, stride, stride}, nil, nil,
		[][2]int{{0, 0}, {0, 0}, p, p})
}

// MaxPool2D is torch.nn.functional.max_pool2d(x, kernel, stride, padding) on NCHW input; stride 0 means kernel,
// and padded positions never win (they count as -inf), as in PyTorch.
func MaxPool2D(x *Node, kernel, stride, padding int) *Node {
	return poolWindow(x, compute.ReduceOpMax, kernel, stride, padding)
}

// AvgPool2D is torch.nn.functional.avg_pool2d(x, kernel, stride, padding) on NCHW input with PyTorch's default
// count_include_pad=True: every window sum is divided by kernel*kernel. stride 0 means kernel.
// Non-overlapping unpadded windows that tile the input use reshape+mean, whose gradient needs no padding ops.
func AvgPool2D(x *Node, kernel, stride, padding int) *Node {
	if stride <= 0 {
		stride = kernel
	}
	d := x.Shape().Dimensions
	if x.Rank() == 4 && stride == kernel && padding == 0 && d[2]%kernel == 0 && d[3]%kernel == 0 {
		y := Reshape(x, d[0], d[1], d[2]/kernel, kernel, d[3]/kernel, kernel)
		return ReduceMean(y, 3, 5)
	}
	return DivScalar(poolWindow(x, compute.ReduceOpSum, kernel, stride, padding), float64(kernel*kernel))
}

// GlobalAvgPool2D is adaptive_avg_pool2d(x, 1) flattened: [B, C, H, W] -> [B, C].
func GlobalAvgPool2D(x *Node) *Node {
	return ReduceMean(x, 2, 3)
}

// UpsampleNearest2D is F.interpolate(x, scale_factor=factor, mode="nearest") for an integer factor on NCHW input.
func UpsampleNearest2D(x *Node, factor int) *Node {
	d := x.Shape().Dimensions
	rows := d[0] * d[1] * d[2]
	// Columns are repeated by a broadcast on a new last axis, then whole rows by a second broadcast: ONNX
	// Runtime copies whole rows in long runs, whereas a single broadcast to [.., H, f, W, f] repeats each
	// element separately (3x slower at 1x512x128x128, x2). The column repeat is one that slowai/backend
	// builds by concatenation on ONNX Runtime (whose Expand crawls there); as a broadcast its gradient is
	// a sum over the new axis, 5x faster than the strided slices a concatenation's gradient would be.
	y := BroadcastToDims(Reshape(x, rows, d[3], 1), rows, d[3], factor)
	y = BroadcastToDims(Reshape(y, rows, 1, d[3]*factor), rows, factor, d[3]*factor)
	return Reshape(y, d[0], d[1], d[2]*factor, d[3]*factor)
}

// BilinearMatrix returns the [out, in] matrix that resamples a length-in signal to length out the way PyTorch's
// bilinear/linear interpolation with align_corners=False does: source coordinate (i+0.5)*in/out-0.5, clamped at 0.
func BilinearMatrix(in, out int) [][]float64 {
	m := make([][]float64, out)
	scale := float64(in) / float64(out)
	for i := range out {
		m[i] = make([]float64, in)
		src := (float64(i)+0.5)*scale - 0.5
		if src < 0 {
			src = 0
		}
		i0 := int(math.Floor(src))
		if i0 > in-1 {
			i0 = in - 1
		}
		i1 := min(i0+1, in-1)
		l := src - float64(i0)
		m[i][i0] += 1 - l
		m[i][i1] += l
	}
	return m
}

// matrixConst makes a constant [rows, cols] node of the given dtype.
func matrixConst(g *Graph, dtype dtypes.DType, m [][]float64) *Node {
	rows, cols := len(m), len(m[0])
	flat := make([]float64, 0, rows*cols)
	for _, r := range m {
		flat = append(flat, r...)
	}
	t := tensors.FromFlatDataAndDimensions(flat, rows, cols)
	return ConvertDType(Const(g, t), dtype)
}

// UpsampleBilinear2D is F.interpolate(x, size=(outH, outW), mode="bilinear", align_corners=False) on NCHW input
// (no antialiasing). It is two small matrix products with constant interpolation matrices, so its gradient is
// plain matrix products too.
func UpsampleBilinear2D(x *Node, outH, outW int) *Node {
	d := x.Shape().Dimensions
	g := x.Graph()
	ah := matrixConst(g, x.DType(), BilinearMatrix(d[2], outH)) // [outH, H]
	aw := matrixConst(g, x.DType(), BilinearMatrix(d[3], outW)) // [outW, W]
	y := DotGeneral(x, []int{3}, nil, aw, []int{1}, nil)        // [B, C, H, outW]
	y = DotGeneral(y, []int{2}, nil, ah, []int{1}, nil)         // [B, C, outW, outH]
	return Transpose(y, 2, 3)
}

// SplitHeads reshapes [B, T, heads*D] to [B, heads, T, D].
func SplitHeads(x *Node, heads int) *Node {
	d := x.Shape().Dimensions
	if x.Rank() != 3 || d[2]%heads != 0 {
		exceptions.Panicf("nn.SplitHeads: x must be [B, T, C] with C divisible by heads=%d, got %s", heads, x.Shape())
	}
	return TransposeAllAxes(Reshape(x, d[0], d[1], heads, d[2]/heads), 0, 2, 1, 3)
}

// MergeHeads reshapes [B, heads, T, D] back to [B, T, heads*D].
func MergeHeads(x *Node) *Node {
	d := x.Shape().Dimensions
	return Reshape(TransposeAllAxes(x, 0, 2, 1, 3), d[0], d[2], d[1]*d[3])
}

// ScaledDotProductAttention is torch's F.scaled_dot_product_attention on q [B, H, Tq, D], k [B, H, Tk, D],
// v [B, H, Tk, Dv]: softmax(q k^T / sqrt(D) + mask) v, softmax over keys. See Attention for mask and causal.
//
// Long sequences are computed in blocks of queries (see MaxAttentionScores): every query's row of
// scores is independent of the others, so the result is the same, but only one block of scores is
// alive at a time. At Stable Diffusion's 4096 tokens the full scores are 1 GiB per tensor, and an
// engine keeps several such temporaries (scores, exponentials, weights) at once.
func ScaledDotProductAttention(q, k, v, mask *Node, causal bool) *Node {
	qd, kd := q.Shape().Dimensions, k.Shape().Dimensions
	if q.Rank() != 4 || k.Rank() != 4 || v.Rank() != 4 || qd[3] != kd[3] {
		exceptions.Panicf("nn.ScaledDotProductAttention: want q [B,H,Tq,D], k [B,H,Tk,D], v [B,H,Tk,Dv]; got %s, %s, %s",
			q.Shape(), k.Shape(), v.Shape())
	}
	full := []int{qd[0], qd[1], qd[2], kd[2]}
	if mask != nil {
		mask = broadcastMask(mask, full)
	}
	block := queryBlock(full)
	if block >= qd[2] {
		return attendBlock(q, k, v, mask, causal, 0)
	}
	var outs []*Node
	for start := 0; start < qd[2]; start += block {
		end := min(start+block, qd[2])
		qb := Slice(q, AxisRange(), AxisRange(), AxisRange(start, end), AxisRange())
		var mb *Node
		if mask != nil {
			mb = Slice(mask, AxisRange(), AxisRange(), AxisRange(start, end), AxisRange())
		}
		outs = append(outs, attendBlock(qb, k, v, mb, causal, start))
	}
	return Concatenate(outs, 2)
}

// MaxAttentionScores is the most attention scores (batch x heads x queries x keys) that
// ScaledDotProductAttention materialises at once: 2^23 float32 values, 32 MiB. Above it, queries are
// processed in blocks. Measured on ONNX Runtime (2 cores), SD's 8-head self-attention at 4096 tokens
// runs at 52 GFLOP/s in blocks of 128 queries against 42 GFLOP/s unblocked, and a 512×512
// generation peaks at 6.9 GB instead of 9.6 GB.
var MaxAttentionScores = 1 << 23

// queryBlock is how many queries a block may hold so that its scores stay within MaxAttentionScores
// (at least 1; all of them when they fit).
func queryBlock(scores []int) int {
	perQuery := scores[0] * scores[1] * scores[3]
	return max(1, MaxAttentionScores/max(perQuery, 1))
}

// attendBlock is attention for queries q [B, H, tq, D] that start at row offset of the full
// sequence (for the causal mask); mask, when given, is already broadcast to [B, H, tq, Tk].
func attendBlock(q, k, v, mask *Node, causal bool, offset int) *Node {
	qd := q.Shape().Dimensions
	// The scale goes on q and the softmax's division on the output: both are then applied to [.., T, D]
	// tensors instead of the [.., Tq, Tk] scores, which are large and make attention memory-bound (each
	// pass over them costs about as much as a matrix product).
	scores := Einsum("bhqd,bhkd->bhqk", MulScalar(q, 1/math.Sqrt(float64(qd[3]))), k)
	full := scores.Shape().Dimensions
	if mask != nil {
		if mask.DType() == dtypes.Bool {
			scores = Where(mask, scores, lowestLike(scores))
		} else {
			scores = Add(scores, ConvertDType(mask, scores.DType()))
		}
	}
	if causal {
		g := q.Graph()
		rows := AddScalar(Iota(g, shapes.Make(dtypes.Int32, full[2], full[3]), 0), float64(offset))
		cols := Iota(g, shapes.Make(dtypes.Int32, full[2], full[3]), 1)
		allowed := BroadcastToDims(Reshape(GreaterOrEqual(rows, cols), 1, 1, full[2], full[3]), full...)
		scores = Where(allowed, scores, lowestLike(scores))
	}
	if q.Graph().Backend().Capabilities().Operations[compute.OpTypeFusedSoftmax] {
		// The engine's fused softmax (the pure-Go one has it) makes one pass already.
		return Einsum("bhqk,bhkd->bhqd", Softmax(scores, -1), v)
	}
	// softmax(s) v = (exp(s - max s) v) / sum exp(s - max s), the max subtracted for range as in Softmax.
	weights := Exp(Sub(scores, StopGradient(ReduceAndKeep(scores, ReduceMax, -1))))
	total := ReduceAndKeep(weights, ReduceSum, -1)
	return Div(Einsum("bhqk,bhkd->bhqd", weights, v), total)
}

// lowestLike is a very negative finite scalar of x's dtype: masked scores use it instead of -inf so a row with
// every key masked gives a uniform softmax rather than NaN.
func lowestLike(x *Node) *Node {
	v := -1e9
	if x.DType() == dtypes.Float16 {
		v = -65504
	}
	return BroadcastToDims(Scalar(x.Graph(), x.DType(), v), x.Shape().Dimensions...)
}

// broadcastMask right-aligns mask against dims (PyTorch broadcasting) and broadcasts it to dims.
func broadcastMask(mask *Node, dims []int) *Node {
	if mask.Rank() > len(dims) {
		exceptions.Panicf("nn attention: mask %s has more axes than scores %v", mask.Shape(), dims)
	}
	md := mask.Shape().Dimensions
	nd := make([]int, len(dims))
	off := len(dims) - len(md)
	for i := range nd {
		nd[i] = 1
		if i >= off {
			nd[i] = md[i-off]
			if nd[i] != 1 && nd[i] != dims[i] {
				exceptions.Panicf("nn attention: mask %s does not broadcast to scores %v", mask.Shape(), dims)
			}
		}
	}
	return BroadcastToDims(Reshape(mask, nd...), dims...)
}

// Attention is multi-head attention without projections: q [B, Tq, C], k [B, Tk, C], v [B, Tk, Cv] are split into
// heads (C and Cv divisible by heads), each head computes softmax(q k^T / sqrt(C/heads)) v over the keys, and the
// heads are merged back to [B, Tq, Cv].
//
// mask (may be nil) follows F.scaled_dot_product_attention's attn_mask: it is right-aligned and broadcast to the
// scores [B, heads, Tq, Tk] (so [Tq, Tk], [B, 1, Tq, Tk] and [B, 1, 1, Tk] all work). A Bool mask is true where
// a query may attend to a key; a float mask is added to the scores (use large negatives to block).
// causal blocks key j for query i when j > i (top-left aligned, like PyTorch's is_causal), combined with mask.
// Fully blocked rows give a uniform average rather than NaN.
func Attention(q, k, v *Node, heads int, mask *Node, causal bool) *Node {
	o := ScaledDotProductAttention(SplitHeads(q, heads), SplitHeads(k, heads), SplitHeads(v, heads), mask, causal)
	return MergeHeads(o)
}

// GELU is the exact (erf) GELU, torch's default: x * (1 + erf(x/sqrt(2))) / 2.
func GELU(x *Node) *Node {
	return Mul(MulScalar(x, 0.5), OnePlus(Erf(MulScalar(x, 1/math.Sqrt2))))
}

// QuickGELU is CLIP's x * sigmoid(1.702 x).
func QuickGELU(x *Node) *Node {
	return Mul(x, Sigmoid(MulScalar(x, 1.702)))
}

// GELUTanh is the tanh approximation of GELU (transformers' gelu_new, torch's approximate="tanh").
func GELUTanh(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(Mul(x, Mul(x, x)), 0.044715)), math.Sqrt(2/math.Pi))
	return Mul(MulScalar(x, 0.5), OnePlus(Tanh(inner)))
}

// Mish is x * tanh(softplus(x)), with GoMLX's overflow-safe Softplus.
func Mish(x *Node) *Node {
	return Mul(x, Tanh(Softplus(x)))
}

// Activation returns the activation a Hugging Face config names (diffusers' act_fn, transformers'
// hidden_act), or an error listing the names it knows.
func Activation(name string) (func(*Node) *Node, error) {
	switch name {
	case "silu", "swish":
		return SiLU, nil
	case "gelu":
		return GELU, nil
	case "gelu_new", "gelu_pytorch_tanh", "gelu_fast":
		return GELUTanh, nil
	case "quick_gelu":
		return QuickGELU, nil
	case "relu":
		return ReLU, nil
	case "mish":
		return Mish, nil
	}
	return nil, fmt.Errorf("unsupported activation %q (want silu, swish, gelu, gelu_new, gelu_pytorch_tanh, "+
		"gelu_fast, quick_gelu, relu or mish)", name)
}

// SiLU (swish) is x * sigmoid(x).
func SiLU(x *Node) *Node {
	return Mul(x, Sigmoid(x))
}

// ReLU is max(x, 0), written as x·[x > 0] with the mask held constant for the gradient: the
// gradient is then one product with the forward's mask, where GoMLX's gradient of Max takes four
// passes more (a difference and two Signs, which ONNX Runtime runs at a fraction of memory speed:
// 9% of a W7 ResNet step; ONNX Runtime's Where, which broadcasts a scalar zero, is as slow). Like
// PyTorch's, the gradient at exactly 0 is 0.
func ReLU(x *Node) *Node {
	mask := StopGradient(ConvertDType(GreaterThan(x, ScalarZero(x.Graph(), x.DType())), x.DType()))
	return Mul(x, mask)
}

// LeakyReLU is x for x >= 0 and slope*x otherwise (torch's default slope is 0.01).
func LeakyReLU(x *Node, slope float64) *Node {
	return Where(GreaterOrEqual(x, ZerosLike(x)), x, MulScalar(x, slope))
}

// GeneralReLU is lesson 09's ReLU with three knobs: a leak (slope for x < 0, 0 for a plain
// ReLU), a shift sub subtracted afterwards (a ReLU's output has mean about 0.4·std, not 0, and
// subtracting it re-centres the next layer's input) and, when maxv > 0, a ceiling the output is
// clamped to.
func GeneralReLU(x *Node, leak, sub, maxv float64) *Node {
	if leak != 0 {
		x = LeakyReLU(x, leak)
	} else {
		x = ReLU(x)
	}
	x = AddScalar(x, -sub)
	if maxv > 0 {
		x = Min(x, Scalar(x.Graph(), x.DType(), maxv))
	}
	return x
}

// GEGLUGate splits the last axis of h into halves (a, gate), in that order as torch's chunk(2, dim=-1),
// and returns a * GELU(gate).
func GEGLUGate(h *Node) *Node {
	parts := Split(h, h.Rank()-1, 2)
	return Mul(parts[0], GELU(parts[1]))
}

// GEGLU is diffusers' GEGLU module: a Linear(in, 2*out) projection (w [2*out, in], b [2*out]) followed by GEGLUGate.
func GEGLU(x, w, b *Node) *Node {
	return GEGLUGate(Linear(x, w, b))
}

// Dropout is inverted dropout: in training each element is zeroed with probability rate and the rest scaled by
// 1/(1-rate); otherwise x is returned. rngState is a GoMLX RNG state node (graph.RNGStateFromSeedForGraph, or
// model.Scope randomness in the layer version); the advanced state is returned.
func Dropout(x *Node, rate float64, training bool, rngState *Node) (y, newRNGState *Node) {
	if !training || rate <= 0 {
		return x, rngState
	}
	if rate >= 1 {
		return ZerosLike(x), rngState
	}
	newRNGState, u := RandomUniform(rngState, x.Shape())
	return DropoutWithNoise(x, u, rate), newRNGState
}

// DropoutWithNoise applies inverted dropout given uniform [0, 1) noise u of x's shape: elements with u < rate are
// zeroed and the others scaled by 1/(1-rate).
func DropoutWithNoise(x, u *Node, rate float64) *Node {
	keep := GreaterOrEqual(u, Scalar(x.Graph(), u.DType(), rate))
	return Where(keep, MulScalar(x, 1/(1-rate)), ZerosLike(x))
}

// Embedding is F.embedding: ids (integer, any shape) index the rows of table [num, dim]; the result has shape
// ids.shape + [dim].
func Embedding(ids, table *Node) *Node {
	if !ids.DType().IsInt() || table.Rank() != 2 {
		exceptions.Panicf("nn.Embedding: want integer ids and table [num, dim], got ids %s, table %s", ids.Shape(), table.Shape())
	}
	return Gather(table, InsertAxes(ids, -1))
}
