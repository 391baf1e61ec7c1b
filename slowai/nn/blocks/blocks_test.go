package blocks_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/ddpm"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/blocks"
	"github.com/slowai-go/course/slowai/nn/internal/nntest"
	"github.com/slowai-go/course/slowai/nn/module"
)

// randomVars stores random values for every spec: weights ~ N(0, 1/fan_in), norm scales ~ 1 +
// N(0, 0.25), everything else ~ N(0, 0.25), so no parameter is a neutral 0 or 1 that would hide
// a swapped or skipped one.
func randomVars(t *testing.T, s *module.Specs, seed uint64) module.Vars {
	t.Helper()
	v := module.NewVars("/blk")
	for i, sp := range s.List() {
		n := nntest.Size(sp.Shape)
		scale, offset := 0.5, 0.0
		switch sp.Init {
		case module.InitFanIn:
			scale = 1 / math.Sqrt(float64(n/sp.Shape[0]))
		case module.InitOnes:
			offset = 1
		}
		data := make([]float32, n)
		for j, x := range nntest.Normal(seed, uint64(i), n) {
			data[j] = float32(offset + scale*x)
		}
		if _, err := v.Store.CreateVariable(v.Path(sp.Name), tensors.FromFlatDataAndDimensions(data, sp.Shape...)); err != nil {
			t.Fatal(err)
		}
	}
	return v
}

// input is a float32 tensor of N(0, 1) values.
func input(seed uint64, dims ...int) *tensors.Tensor {
	d := nntest.Normal(seed, 7, nntest.Size(dims))
	f := make([]float32, len(d))
	for i, x := range d {
		f[i] = float32(x)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...)
}

// run evaluates fn on the default engine and returns its outputs as float64 with their shapes.
func run(t *testing.T, v module.Vars, fn func(in []*Node) []*Node, inputs ...*tensors.Tensor) ([][]float64, [][]int) {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	outs, err := model.ExecOnceN(be, v.Store, func(_ *model.Scope, in []*Node) []*Node { return fn(in) }, args...)
	if err != nil {
		t.Fatal(err)
	}
	vals, dims := make([][]float64, len(outs)), make([][]int, len(outs))
	for i, o := range outs {
		vals[i], dims[i] = nntest.Flat(o), o.Shape().Dimensions
	}
	return vals, dims
}

func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	var m float64
	for i := range a {
		m = max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func names(s *module.Specs) []string {
	var n []string
	for _, sp := range s.List() {
		n = append(n, sp.Name)
	}
	return n
}

// resNames lists a ResBlock's parameters in declaration order.
func resNames(prefix string, n blocks.ResNames, temb, shortcut bool) []string {
	var out []string
	add := func(layer string) { out = append(out, prefix+"."+layer+".weight", prefix+"."+layer+".bias") }
	add(n.Norm1)
	add(n.Conv1)
	if temb {
		add(n.TimeProj)
	}
	add(n.Norm2)
	add(n.Conv2)
	if shortcut {
		add(n.Shortcut)
	}
	return out
}

func TestResBlockParams(t *testing.T) {
	d := blocks.DiffusersResNames
	for _, c := range []struct {
		what             string
		in, out, timeDim int
		opts             blocks.ResOpts
		names            []string
		count            int64
	}{
		// norm1 2·4, conv1 8·4·9+8, time_emb_proj 8·6+8, norm2 2·8, conv2 8·8·9+8, conv_shortcut 8·4+8.
		{"diffusers 4->8", 4, 8, 6, blocks.ResOpts{Groups: 2}, resNames("r", d, true, true), 8 + 296 + 56 + 16 + 584 + 40},
		// scale-shift doubles the projection: 16·6+16; no shortcut at 8->8.
		{"scale-shift 8->8", 8, 8, 6, blocks.ResOpts{Groups: 2, ScaleShift: true}, resNames("r", d, true, false), 16 + 584 + 112 + 16 + 584},
		// without a time embedding (the VAE's): no projection.
		{"no temb 4->8", 4, 8, 0, blocks.ResOpts{Groups: 2}, resNames("r", d, false, true), 8 + 296 + 16 + 584 + 40},
		{"ddpm names 4->8", 4, 8, 6, blocks.ResOpts{Groups: 2, Names: blocks.ResNames{TimeProj: "time_proj", Shortcut: "skip"}},
			resNames("r", blocks.ResNames{Norm1: "norm1", Conv1: "conv1", TimeProj: "time_proj", Norm2: "norm2", Conv2: "conv2", Shortcut: "skip"}, true, true),
			8 + 296 + 56 + 16 + 584 + 40},
	} {
		t.Run(c.what, func(t *testing.T) {
			s := &module.Specs{}
			blocks.NewResBlock(s, "r", c.in, c.out, c.timeDim, c.opts)
			if got := names(s); !slices.Equal(got, c.names) {
				t.Errorf("names %v\nwant  %v", got, c.names)
			}
			if got := s.NumParams(); got != c.count {
				t.Errorf("NumParams = %d, want %d", got, c.count)
			}
		})
	}
}

// TestResBlockDeclaresDDPMParams checks that the DDPM configuration declares exactly the names and
// shapes slowai/ddpm's U-Net lists for its blocks (with and without the 1×1 skip).
func TestResBlockDeclaresDDPMParams(t *testing.T) {
	cfg := ddpm.Config{InChannels: 1, Size: 8, Channels: []int{4, 8}, EmbDim: 6, Groups: 2, Schedule: "cosine", T: 10}
	want := map[string][]int{}
	for _, p := range cfg.Specs() {
		want[p.Name] = p.Shape
	}
	for _, b := range []struct {
		name    string
		in, out int
	}{{"down.1.res", 4, 8}, {"mid.res", 8, 8}, {"up.1.res", 12, 4}} {
		s := &module.Specs{}
		blocks.NewResBlock(s, b.name, b.in, b.out, cfg.EmbDim, ddpmOpts(cfg.Groups))
		n := 0
		for _, sp := range s.List() {
			if shape, ok := want[sp.Name]; !ok || !slices.Equal(shape, sp.Shape) {
				t.Errorf("%s %v: ddpm has %v (listed: %v)", sp.Name, sp.Shape, shape, ok)
			}
		}
		for name := range want {
			if len(name) > len(b.name) && name[:len(b.name)+1] == b.name+"." {
				n++
			}
		}
		if n != s.Len() {
			t.Errorf("%s: ddpm lists %d tensors, the block declares %d", b.name, n, s.Len())
		}
	}
}

// ddpmOpts is slowai/ddpm's block: SiLU, time embedding projected without an activation, eps 1e-5,
// its own names for the projection and the skip.
func ddpmOpts(groups int) blocks.ResOpts {
	return blocks.ResOpts{SkipTimeAct: true, Groups: groups, Eps: 1e-5,
		Names: blocks.ResNames{TimeProj: "time_proj", Shortcut: "skip"}}
}

// TestResBlockDDPM compares the DDPM configuration with slowai/ddpm's block written out in nn ops.
func TestResBlockDDPM(t *testing.T) {
	const b, ci, co, emb, groups, h, w = 2, 4, 8, 6, 2, 5, 6
	s := &module.Specs{}
	blk := blocks.NewResBlock(s, "up.0.res", ci, co, emb, ddpmOpts(groups))
	v := randomVars(t, s, 1)
	outs, dims := run(t, v, func(in []*Node) []*Node {
		x, e := in[0], in[1]
		p := func(n string) *Node { return v.Node(x.Graph(), "up.0.res."+n) }
		same := nn.ConvOpts{Padding: nn.Pair(1)}
		r := nn.GroupNorm(x, p("norm1.weight"), p("norm1.bias"), groups, 1e-5)
		r = nn.Conv2D(nn.SiLU(r), p("conv1.weight"), p("conv1.bias"), same)
		tp := nn.Linear(e, p("time_proj.weight"), p("time_proj.bias"))
		r = Add(r, Reshape(tp, -1, co, 1, 1))
		r = nn.GroupNorm(r, p("norm2.weight"), p("norm2.bias"), groups, 1e-5)
		r = nn.Conv2D(nn.SiLU(r), p("conv2.weight"), p("conv2.bias"), same)
		want := Add(r, nn.Conv2D(x, p("skip.weight"), p("skip.bias"), nn.ConvOpts{}))
		return []*Node{blk.Apply(v, x, e), want}
	}, input(1, b, ci, h, w), input(2, b, emb))
	if !slices.Equal(dims[0], []int{b, co, h, w}) {
		t.Errorf("output shape %v, want [%d %d %d %d]", dims[0], b, co, h, w)
	}
	d := maxAbsDiff(outs[0], outs[1])
	t.Logf("max |block - ddpm composition| = %.3g", d)
	if d > 1e-5 {
		t.Error("block and composition differ by more than 1e-5")
	}
}

// TestResBlockDiffusers covers the other choices: the activation on the time embedding, scale-shift
// conditioning, an output scale, another activation, and no time embedding at all.
func TestResBlockDiffusers(t *testing.T) {
	const b, c, emb, groups, h, w = 2, 4, 6, 2, 3, 5
	s := &module.Specs{}
	act := nn.GELU
	ss := blocks.NewResBlock(s, "ss", c, c, emb, blocks.ResOpts{Act: act, ScaleShift: true, Groups: groups, OutScale: 2})
	add := blocks.NewResBlock(s, "add", c, c, emb, blocks.ResOpts{Groups: groups, Eps: 1e-5})
	vae := blocks.NewResBlock(s, "vae", c, 2*c, 0, blocks.ResOpts{Groups: groups})
	v := randomVars(t, s, 2)
	outs, dims := run(t, v, func(in []*Node) []*Node {
		x, e := in[0], in[1]
		p := func(n string) *Node { return v.Node(x.Graph(), n) }
		same := nn.ConvOpts{Padding: nn.Pair(1)}
		stage := func(blk, n string, act func(*Node) *Node, x *Node) *Node {
			return nn.Conv2D(act(x), p(blk+".conv"+n+".weight"), p(blk+".conv"+n+".bias"), same)
		}
		norm := func(blk, n string, x *Node, eps float64) *Node {
			return nn.GroupNorm(x, p(blk+".norm"+n+".weight"), p(blk+".norm"+n+".bias"), groups, eps)
		}
		// scale-shift: norm2(h)·(1 + scale) + shift, with act(temb) projected to [scale, shift].
		r := stage("ss", "1", act, norm("ss", "1", x, 1e-6))
		tp := nn.Linear(act(e), p("ss.time_emb_proj.weight"), p("ss.time_emb_proj.bias"))
		scale := Reshape(Slice(tp, AxisRange(), AxisRange(0, c)), b, c, 1, 1)
		shift := Reshape(Slice(tp, AxisRange(), AxisRange(c, 2*c)), b, c, 1, 1)
		r = Add(Mul(norm("ss", "2", r, 1e-6), AddScalar(scale, 1)), shift)
		wantSS := MulScalar(Add(x, stage("ss", "2", act, r)), 0.5)
		// additive with SiLU(temb).
		r = stage("add", "1", nn.SiLU, norm("add", "1", x, 1e-5))
		tp = nn.Linear(nn.SiLU(e), p("add.time_emb_proj.weight"), p("add.time_emb_proj.bias"))
		r = norm("add", "2", Add(r, Reshape(tp, b, c, 1, 1)), 1e-5)
		wantAdd := Add(x, stage("add", "2", nn.SiLU, r))
		// no time embedding, 1×1 shortcut.
		r = stage("vae", "1", nn.SiLU, norm("vae", "1", x, 1e-6))
		r = stage("vae", "2", nn.SiLU, norm("vae", "2", r, 1e-6))
		wantVAE := Add(nn.Conv2D(x, p("vae.conv_shortcut.weight"), p("vae.conv_shortcut.bias"), nn.ConvOpts{}), r)
		return []*Node{ss.Apply(v, x, e), wantSS, add.Apply(v, x, e), wantAdd, vae.Apply(v, x, nil), wantVAE}
	}, input(3, b, c, h, w), input(4, b, emb))
	for i, what := range []string{"scale-shift", "additive", "no temb"} {
		d := maxAbsDiff(outs[2*i], outs[2*i+1])
		t.Logf("%s: max |block - composition| = %.3g", what, d)
		if d > 1e-5 {
			t.Errorf("%s: block and composition differ by more than 1e-5", what)
		}
	}
	if !slices.Equal(dims[4], []int{b, 2 * c, h, w}) {
		t.Errorf("no-temb output shape %v", dims[4])
	}
}

func TestResBlockTimeEmbeddingMismatch(t *testing.T) {
	s := &module.Specs{}
	with := blocks.NewResBlock(s, "with", 2, 2, 3, blocks.ResOpts{Groups: 1})
	without := blocks.NewResBlock(s, "without", 2, 2, 0, blocks.ResOpts{Groups: 1})
	v := randomVars(t, s, 3)
	for _, c := range []struct {
		blk  blocks.ResBlock
		temb bool
	}{{with, false}, {without, true}} {
		if !fails(t, v, func(in []*Node) *Node {
			var e *Node
			if c.temb {
				e = in[1]
			}
			return c.blk.Apply(v, in[0], e)
		}, input(1, 1, 2, 2, 2), input(2, 1, 3)) {
			t.Errorf("%s: temb given = %v accepted", c.blk.Name, c.temb)
		}
	}
}

func TestAttentionParams(t *testing.T) {
	s := &module.Specs{}
	blocks.NewAttention(s, "x", 8, blocks.AttnOpts{Heads: 2, ContextDim: 6})
	// to_q 8·8, to_k 8·6, to_v 8·6, to_out.0 8·8+8: no q/k/v bias, no norm.
	want := []string{"x.to_q.weight", "x.to_k.weight", "x.to_v.weight", "x.to_out.0.weight", "x.to_out.0.bias"}
	if got := names(s); !slices.Equal(got, want) || s.NumParams() != 64+48+48+72 {
		t.Errorf("cross-attention declares %v (%d values), want %v (232)", got, s.NumParams(), want)
	}
	s = &module.Specs{}
	blocks.NewAttention(s, "a", 4, blocks.AttnOpts{Bias: true, NormGroups: 2, NormEps: 1e-6, Residual: true, Conv1x1OK: true})
	want = []string{"a.group_norm.weight", "a.group_norm.bias", "a.to_q.weight", "a.to_q.bias", "a.to_k.weight", "a.to_k.bias",
		"a.to_v.weight", "a.to_v.bias", "a.to_out.0.weight", "a.to_out.0.bias"}
	if got := names(s); !slices.Equal(got, want) || s.NumParams() != 8+4*20 {
		t.Errorf("spatial attention declares %v (%d values), want %v (88)", got, s.NumParams(), want)
	}
	for _, sp := range s.List() {
		if len(sp.Shape) == 2 && !sp.Conv1x1OK {
			t.Errorf("%s does not accept the 1×1 conv layout", sp.Name)
		}
	}
}

// host is a float64 copy of a parameter.
func host(t *testing.T, v module.Vars, name string) []float64 {
	t.Helper()
	val, err := v.Variable(name).Value()
	if err != nil {
		t.Fatal(err)
	}
	return nntest.Flat(val)
}

// linear64 is x [n, in] @ wᵀ + b for w [out, in] (b may be nil).
func linear64(x []float64, n, in int, w, b []float64) []float64 {
	out := len(w) / in
	y := make([]float64, n*out)
	for i := range n {
		for o := range out {
			s := 0.0
			if b != nil {
				s = b[o]
			}
			for k := range in {
				s += x[i*in+k] * w[o*in+k]
			}
			y[i*out+o] = s
		}
	}
	return y
}

// attention64 is multi-head softmax(q kᵀ/√d) v for one batch item: q [tq, c], k and v [tk, c].
func attention64(q, k, v []float64, tq, tk, c, heads int) []float64 {
	dh := c / heads
	o := make([]float64, tq*c)
	for hd := range heads {
		for i := range tq {
			scores := make([]float64, tk)
			top := math.Inf(-1)
			for j := range tk {
				for d := range dh {
					scores[j] += q[i*c+hd*dh+d] * k[j*c+hd*dh+d]
				}
				scores[j] /= math.Sqrt(float64(dh))
				top = max(top, scores[j])
			}
			var sum float64
			for j := range scores {
				scores[j] = math.Exp(scores[j] - top)
				sum += scores[j]
			}
			for j := range tk {
				for d := range dh {
					o[i*c+hd*dh+d] += scores[j] / sum * v[j*c+hd*dh+d]
				}
			}
		}
	}
	return o
}

// TestAttentionCross checks multi-head cross-attention on tokens, and self-attention when context
// is nil, against a float64 reference.
func TestAttentionCross(t *testing.T) {
	const b, tq, tc, c, cd, heads = 2, 5, 3, 8, 6, 2
	s := &module.Specs{}
	cross := blocks.NewAttention(s, "cross", c, blocks.AttnOpts{Heads: heads, ContextDim: cd})
	self := blocks.NewAttention(s, "self", c, blocks.AttnOpts{Heads: heads})
	v := randomVars(t, s, 4)
	x, ctx := input(5, b, tq, c), input(6, b, tc, cd)
	outs, dims := run(t, v, func(in []*Node) []*Node {
		return []*Node{cross.Apply(v, in[0], in[1]), self.Apply(v, in[0], nil)}
	}, x, ctx)
	xs, cs := nntest.Flat(x), nntest.Flat(ctx)
	for i, a := range []blocks.Attention{cross, self} {
		if !slices.Equal(dims[i], []int{b, tq, c}) {
			t.Errorf("%s: shape %v", a.Name, dims[i])
		}
		var want []float64
		for bi := range b {
			xb := xs[bi*tq*c : (bi+1)*tq*c]
			kv, tk, kw := xb, tq, c
			if a.Name == "cross" {
				kv, tk, kw = cs[bi*tc*cd:(bi+1)*tc*cd], tc, cd
			}
			p := func(n string) []float64 { return host(t, v, a.Name+"."+n) }
			q := linear64(xb, tq, c, p("to_q.weight"), nil)
			k := linear64(kv, tk, kw, p("to_k.weight"), nil)
			vv := linear64(kv, tk, kw, p("to_v.weight"), nil)
			o := attention64(q, k, vv, tq, tk, c, heads)
			want = append(want, linear64(o, tq, c, p("to_out.0.weight"), p("to_out.0.bias"))...)
		}
		d := maxAbsDiff(outs[i], want)
		t.Logf("%s: max |block - float64 reference| = %.3g", a.Name, d)
		if d > 2e-5 {
			t.Errorf("%s: block and float64 reference differ by more than 2e-5", a.Name)
		}
	}
}

// TestAttentionSpatial checks the VAE's attention over an image — GroupNorm, one head over the H·W
// pixels, residual — against a float64 reference, and that it equals the same block applied to
// the pixels as tokens.
func TestAttentionSpatial(t *testing.T) {
	const b, c, h, w, groups, eps = 2, 4, 3, 2, 2, 1e-6
	s := &module.Specs{}
	a := blocks.NewAttention(s, "attn", c, blocks.AttnOpts{Bias: true, NormGroups: groups, NormEps: eps, Residual: true})
	v := randomVars(t, s, 5)
	x := input(7, b, c, h, w)
	outs, dims := run(t, v, func(in []*Node) []*Node {
		img := in[0]
		tokens := Transpose(Reshape(img, b, c, h*w), 1, 2)
		fromTokens := Reshape(Transpose(a.Apply(v, tokens, nil), 1, 2), b, c, h, w)
		return []*Node{a.Apply(v, img, nil), fromTokens}
	}, x)
	if !slices.Equal(dims[0], []int{b, c, h, w}) {
		t.Errorf("shape %v", dims[0])
	}
	xs, hw, per := nntest.Flat(x), h*w, c/groups
	p := func(n string) []float64 { return host(t, v, "attn."+n) }
	gamma, beta := p("group_norm.weight"), p("group_norm.bias")
	var want []float64
	for bi := range b {
		img := xs[bi*c*hw : (bi+1)*c*hw]
		tok := make([]float64, hw*c) // normed, [HW, C]
		for g := range groups {
			vals := img[g*per*hw : (g+1)*per*hw]
			var mean, sq float64
			for _, x := range vals {
				mean += x
			}
			mean /= float64(len(vals))
			for _, x := range vals {
				sq += (x - mean) * (x - mean)
			}
			std := math.Sqrt(sq/float64(len(vals)) + eps)
			for ch := g * per; ch < (g+1)*per; ch++ {
				for i := range hw {
					tok[i*c+ch] = (img[ch*hw+i]-mean)/std*gamma[ch] + beta[ch]
				}
			}
		}
		q := linear64(tok, hw, c, p("to_q.weight"), p("to_q.bias"))
		k := linear64(tok, hw, c, p("to_k.weight"), p("to_k.bias"))
		vv := linear64(tok, hw, c, p("to_v.weight"), p("to_v.bias"))
		o := linear64(attention64(q, k, vv, hw, hw, c, 1), hw, c, p("to_out.0.weight"), p("to_out.0.bias"))
		for ch := range c {
			for i := range hw {
				want = append(want, o[i*c+ch]+img[ch*hw+i])
			}
		}
	}
	d := maxAbsDiff(outs[0], want)
	t.Logf("max |block - float64 reference| = %.3g", d)
	if d > 2e-5 {
		t.Error("block and float64 reference differ by more than 2e-5")
	}
	if d := maxAbsDiff(outs[0], outs[1]); d > 1e-5 {
		t.Errorf("image and token layouts differ by %.3g", d)
	}
}

func TestAttentionBadContext(t *testing.T) {
	s := &module.Specs{}
	a := blocks.NewAttention(s, "x", 4, blocks.AttnOpts{ContextDim: 3})
	v := randomVars(t, s, 6)
	for i, ctx := range [][]int{{1, 2, 4}, {2, 2, 3}, nil} {
		in := []*tensors.Tensor{input(1, 1, 5, 4)}
		if ctx != nil {
			in = append(in, input(2, ctx...))
		}
		if !fails(t, v, func(in []*Node) *Node {
			var c *Node
			if len(in) > 1 {
				c = in[1]
			}
			return a.Apply(v, in[0], c)
		}, in...) {
			t.Errorf("case %d: context %v accepted for a [1, 5, 4] query with context width 3", i, ctx)
		}
	}
}

// fails reports whether building or running fn's graph fails (bad shapes panic while building).
// The Exec is left unfinalized after a panic: finalizing it then would wait forever for the
// compilation the panic interrupted (as unet.Predict also avoids).
func fails(t *testing.T, v module.Vars, fn func(in []*Node) *Node, inputs ...*tensors.Tensor) (failed bool) {
	t.Helper()
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	e, err := model.NewExec(be, v.Store, func(_ *model.Scope, in []*Node) *Node { return fn(in) })
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(inputs))
	for i, x := range inputs {
		args[i] = x
	}
	defer func() {
		if r := recover(); r != nil {
			failed = true
		}
	}()
	_, err = e.Exec(args...)
	e.Finalize()
	return err != nil
}

func ExampleNewResBlock() {
	s := &module.Specs{}
	// slowai/ddpm's block from 32 to 64 channels with a 128-wide time embedding.
	blocks.NewResBlock(s, "down.1.res", 32, 64, 128, blocks.ResOpts{SkipTimeAct: true, Groups: 8, Eps: 1e-5,
		Names: blocks.ResNames{TimeProj: "time_proj", Shortcut: "skip"}})
	for _, sp := range s.List() {
		fmt.Println(sp.Name, sp.Shape)
	}
	// Output:
	// down.1.res.norm1.weight [32]
	// down.1.res.norm1.bias [32]
	// down.1.res.conv1.weight [64 32 3 3]
	// down.1.res.conv1.bias [64]
	// down.1.res.time_proj.weight [64 128]
	// down.1.res.time_proj.bias [64]
	// down.1.res.norm2.weight [64]
	// down.1.res.norm2.bias [64]
	// down.1.res.conv2.weight [64 64 3 3]
	// down.1.res.conv2.bias [64]
	// down.1.res.skip.weight [64 32 1 1]
	// down.1.res.skip.bias [64]
}
