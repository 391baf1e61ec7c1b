package layer

import (
	"math"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/internal/nntest"
)

func TestLayerGradients(t *testing.T) {
	ids := [][]int32{{1, 5, 0}, {2, 2, 4}}
	cases := []struct {
		name     string
		training bool
		dims     []int
		build    func(s *model.Scope, x *Node) *Node
	}{
		{"Linear", false, []int{2, 4}, func(s *model.Scope, x *Node) *Node { return Linear(s, x, 3, true) }},
		{"Conv2D stride2 groups2", false, []int{1, 4, 5, 5}, func(s *model.Scope, x *Node) *Node {
			return Conv2D(s, x, 4, 3, nn.ConvOpts{Stride: nn.Pair(2), Padding: nn.Pair(1), Groups: 2}, true)
		}},
		{"Conv2D k4 stride2", false, []int{1, 2, 6, 6}, func(s *model.Scope, x *Node) *Node {
			return Conv2D(s, x, 3, 4, nn.ConvOpts{Stride: nn.Pair(2), Padding: nn.Pair(1)}, false)
		}},
		{"UpConv", false, []int{1, 2, 3, 3}, func(s *model.Scope, x *Node) *Node { return UpConv(s, x, 2, 3, 2, true) }},
		{"BatchNorm train", true, []int{4, 3, 2, 2}, func(s *model.Scope, x *Node) *Node { return BatchNorm(s, x, 0.1, 1e-5) }},
		{"BatchNorm eval", false, []int{4, 3, 2, 2}, func(s *model.Scope, x *Node) *Node { return BatchNorm(s, x, 0.1, 1e-5) }},
		{"LayerNorm", false, []int{2, 3, 5}, func(s *model.Scope, x *Node) *Node { return LayerNorm(s, x, 1e-5, true) }},
		{"GroupNorm", false, []int{2, 4, 3, 3}, func(s *model.Scope, x *Node) *Node { return GroupNorm(s, x, 2, 1e-5, true) }},
		{"Embedding", false, []int{2, 3, 4}, func(s *model.Scope, x *Node) *Node {
			return Mul(x, Embedding(s, Const(x.Graph(), ids), 6, 4, x.DType()))
		}},
		{"MultiHeadSelfAttention causal", false, []int{2, 3, 4}, func(s *model.Scope, x *Node) *Node {
			return MultiHeadSelfAttention(s, x, AttentionConfig{Heads: 2, QKVBias: true}, nil, true)
		}},
		{"CrossAttention", false, []int{2, 5, 4}, func(s *model.Scope, x *Node) *Node {
			q := Slice(x, AxisRange(), AxisRange(0, 2), AxisRange())
			ctx := Slice(x, AxisRange(), AxisRange(2), AxisRange(0, 3))
			return CrossAttention(s, q, ctx, AttentionConfig{Heads: 2, HeadDim: 3, NoOutBias: true}, nil)
		}},
	}
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		for _, lc := range cases {
			checkLayerGrad(t, c, lc.name, lc.training, lc.build, lc.dims)
		}
	})
}

// tinyNet names its layers like a diffusers model, to check the scope -> state-dict mapping.
func tinyNet(s *model.Scope, x *Node) *Node {
	h := Conv2D(s.At("conv_in"), x, 8, 3, nn.ConvOpts{Padding: nn.Pair(1)}, true) // [1,8,4,4]
	h = GroupNorm(nn.ScopeAt(s, "down_blocks.0.norm"), h, 2, 1e-6, true)          //
	h = BatchNorm(nn.ScopeAt(s, "down_blocks.0.bn"), h, 0.1, 1e-5)                //
	tok := Transpose(Reshape(h, 1, 8, 16), 1, 2)                                  // [1,16,8]
	tok = Add(tok, MultiHeadSelfAttention(s.At("attn1"), tok, AttentionConfig{Heads: 2}, nil, false))
	ctx := Embedding(s.At("emb"), Const(x.Graph(), [][]int32{{1, 2, 3, 4, 5}}), 10, 6, x.DType()) // [1,5,6]
	tok = Add(tok, CrossAttention(s.At("attn2"), tok, ctx, AttentionConfig{Heads: 2}, nil))
	tok = LayerNorm(s.At("norm"), tok, 1e-5, true)
	return Linear(s.At("proj"), tok, 4, false)
}

var tinyNetKeys = map[string][]int{
	"conv_in.weight": {8, 3, 3, 3}, "conv_in.bias": {8},
	"down_blocks.0.norm.weight": {8}, "down_blocks.0.norm.bias": {8},
	"down_blocks.0.bn.weight": {8}, "down_blocks.0.bn.bias": {8},
	"down_blocks.0.bn.running_mean": {8}, "down_blocks.0.bn.running_var": {8}, "down_blocks.0.bn.num_batches_tracked": {},
	"attn1.to_q.weight": {8, 8}, "attn1.to_k.weight": {8, 8}, "attn1.to_v.weight": {8, 8},
	"attn1.to_out.0.weight": {8, 8}, "attn1.to_out.0.bias": {8},
	"emb.weight":        {10, 6},
	"attn2.to_q.weight": {8, 8}, "attn2.to_k.weight": {8, 6}, "attn2.to_v.weight": {8, 6},
	"attn2.to_out.0.weight": {8, 8}, "attn2.to_out.0.bias": {8},
	"norm.weight": {8}, "norm.bias": {8},
	"proj.weight": {4, 8},
}

// freshStateDict returns new random tensors with the shapes of tinyNetKeys (num_batches_tracked: int64 7).
func freshStateDict(dtype dtypes.DType) map[string]*tensors.Tensor {
	sd := make(map[string]*tensors.Tensor)
	keys := make([]string, 0, len(tinyNetKeys))
	for k := range tinyNetKeys {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for i, k := range keys {
		dims := tinyNetKeys[k]
		if strings.HasSuffix(k, "num_batches_tracked") {
			sd[k] = tensors.FromScalar(int64(7))
			continue
		}
		d := randData(uint64(300+i), nntest.Size(dims))
		if strings.HasSuffix(k, "running_var") {
			for j := range d {
				d[j] = 1 + math.Abs(d[j])
			}
		}
		sd[k] = mk(dtype, d, dims...)
	}
	return sd
}

func TestStateDict(t *testing.T) {
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		store := model.NewStore()
		x := mk(c.DType, randData(1, 48), 1, 3, 4, 4)
		e := model.MustNewExec(c.Backend, store, tinyNet)
		defer e.Finalize()
		before, err := e.Exec(x)
		if err != nil {
			t.Fatal(err)
		}
		sd, err := nn.StateDict(store.RootScope())
		if err != nil {
			t.Fatal(err)
		}
		if len(sd) != len(tinyNetKeys) {
			t.Errorf("StateDict has %d keys, want %d", len(sd), len(tinyNetKeys))
		}
		for k, dims := range tinyNetKeys {
			got, ok := sd[k]
			if !ok {
				t.Errorf("StateDict lacks key %q", k)
				continue
			}
			if !slices.Equal(got.Shape().Dimensions, dims) {
				t.Errorf("key %q has dims %v, want %v", k, got.Shape().Dimensions, dims)
			}
		}
		if got := sd["down_blocks.0.bn.num_batches_tracked"]; got != nil && got.DType() != dtypes.Int64 {
			t.Errorf("num_batches_tracked dtype %s, want int64", got.DType())
		}

		// Strict load errors name the offending keys and load nothing.
		bad := freshStateDict(c.DType)
		delete(bad, "attn1.to_k.weight")
		bad["attn1.to_x.weight"] = mk(c.DType, make([]float64, 64), 8, 8)
		bad["proj.weight"] = mk(c.DType, make([]float64, 32), 8, 4)
		err = nn.LoadStateDict(store.RootScope(), bad)
		if err == nil {
			t.Fatal("LoadStateDict accepted a state dict with missing, unexpected and misshapen keys")
		}
		for _, want := range []string{`"attn1.to_k.weight": missing`, `"attn1.to_x.weight": unexpected`, `"proj.weight": state dict has`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("LoadStateDict error lacks %q:\n%v", want, err)
			}
		}
		after, err := e.Exec(x)
		if err != nil {
			t.Fatal(err)
		}
		if !sameFloats(nntest.Flat(before[0]), nntest.Flat(after[0]), 0) {
			t.Error("a failed LoadStateDict changed the model's output")
		}

		// Partial load reports what it skipped.
		partial := freshStateDict(c.DType)
		delete(partial, "norm.bias")
		partial["text_model.embeddings.position_ids"] = tensors.FromValue([]int64{0, 1, 2})
		rep, err := nn.LoadStateDictPartial(store.RootScope(), partial, false)
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Missing) != 1 || rep.Missing[0] != "norm.bias" || len(rep.Unexpected) != 1 ||
			rep.Unexpected[0] != "text_model.embeddings.position_ids" || len(rep.Loaded) != len(tinyNetKeys)-1 {
			t.Errorf("LoadStateDictPartial report %+v", rep)
		}

		// A strict load of a good state dict is visible in the variables and in the output.
		good := freshStateDict(c.DType)
		want := make(map[string][]float64)
		for k, v := range good {
			if v.DType().IsFloat() {
				want[k] = nntest.Flat(v)
			}
		}
		if err := nn.LoadStateDict(store.RootScope(), good); err != nil {
			t.Fatal(err)
		}
		sd2, err := nn.StateDict(store.RootScope())
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range want {
			if !sameFloats(nntest.Flat(sd2[k]), w, 0) {
				t.Errorf("after LoadStateDict, %q differs from the loaded tensor", k)
			}
		}
		loaded, err := e.Exec(x)
		if err != nil {
			t.Fatal(err)
		}
		if sameFloats(nntest.Flat(before[0]), nntest.Flat(loaded[0]), 1e-3) {
			t.Error("LoadStateDict did not change the model's output")
		}
		// The same weights loaded into a fresh store before building give the same output.
		store2 := model.NewStore()
		if err := nn.CreateFromStateDict(store2.RootScope(), freshStateDict(c.DType)); err != nil {
			t.Fatal(err)
		}
		out2, err := model.CallOnce(c.Backend, store2, tinyNet, x)
		if err != nil {
			t.Fatal(err)
		}
		if !sameFloats(nntest.Flat(out2), nntest.Flat(loaded[0]), 1e-9) {
			t.Error("CreateFromStateDict then build differs from build then LoadStateDict")
		}
	})
}

func TestKeyMapping(t *testing.T) {
	if got := nn.KeyFromPath("/down_blocks/0/resnets/0/conv1/weight"); got != "down_blocks.0.resnets.0.conv1.weight" {
		t.Errorf("KeyFromPath = %q", got)
	}
	if got := nn.PathFromKey("down_blocks.0.resnets.0.conv1.weight"); got != "down_blocks/0/resnets/0/conv1/weight" {
		t.Errorf("PathFromKey = %q", got)
	}
	s := model.NewStore().RootScope()
	if got := nn.ScopeAt(s.At("unet"), "down_blocks.0.resnets.1").Scope(); got != "/unet/down_blocks/0/resnets/1" {
		t.Errorf("ScopeAt scope = %q", got)
	}
	// CLIP-named attention: all four projections with biases under q_proj/k_proj/v_proj/out_proj.
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		store := model.NewStore()
		_, err := model.CallOnce(c.Backend, store, func(s *model.Scope, x *Node) *Node {
			return MultiHeadSelfAttention(nn.ScopeAt(s, "encoder.layers.0.self_attn"), x,
				AttentionConfig{Heads: 2, QKVBias: true, Names: CLIPNames}, nil, true)
		}, mk(c.DType, randData(3, 24), 1, 6, 4))
		if err != nil {
			t.Fatal(err)
		}
		sd, err := nn.StateDict(store.RootScope())
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for k := range sd {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var want []string
		for _, p := range []string{"k_proj", "out_proj", "q_proj", "v_proj"} {
			want = append(want, "encoder.layers.0.self_attn."+p+".bias", "encoder.layers.0.self_attn."+p+".weight")
		}
		if strings.Join(keys, " ") != strings.Join(want, " ") {
			t.Errorf("CLIP attention keys %v, want %v", keys, want)
		}
	})
}

// TestLinearKnownWeights pins Linear's weight layout: y = x @ W^T + b with W [out, in].
func TestLinearKnownWeights(t *testing.T) {
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		store := model.NewStore()
		sd := map[string]*tensors.Tensor{
			"fc.weight": mk(c.DType, []float64{1, 2, 3, 4, 5, 6}, 3, 2),
			"fc.bias":   mk(c.DType, []float64{1, -1, 0.5}, 3),
		}
		if err := nn.CreateFromStateDict(store.RootScope(), sd); err != nil {
			t.Fatal(err)
		}
		out, err := model.CallOnce(c.Backend, store, func(s *model.Scope, x *Node) *Node { return Linear(s.At("fc"), x, 3, true) },
			mk(c.DType, []float64{1, 10}, 1, 2))
		if err != nil {
			t.Fatal(err)
		}
		if got := nntest.Flat(out); !sameFloats(got, []float64{22, 42, 65.5}, 1e-5) {
			t.Errorf("Linear with W=[[1,2],[3,4],[5,6]], b=[1,-1,.5] on [1,10] = %v, want [22 42 65.5]", got)
		}
		// A checkpoint whose shape disagrees with the layer is reported with the variable's path.
		bad := model.NewStore()
		if err := nn.CreateFromStateDict(bad.RootScope(), map[string]*tensors.Tensor{"fc.weight": mk(c.DType, make([]float64, 6), 2, 3)}); err != nil {
			t.Fatal(err)
		}
		_, err = model.CallOnce(c.Backend, bad, func(s *model.Scope, x *Node) *Node { return Linear(s.At("fc"), x, 3, false) },
			mk(c.DType, []float64{1, 10}, 1, 2))
		if err == nil || !strings.Contains(err.Error(), "/fc/weight") {
			t.Errorf("building over a misshapen checkpoint: error %v, want one naming /fc/weight", err)
		}
	})
}

func TestInitialisation(t *testing.T) {
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(5); err != nil {
			t.Fatal(err)
		}
		_, err := model.CallOnce(c.Backend, store, func(s *model.Scope, x *Node) *Node {
			a := Linear(s.At("fc"), x, 400, true)
			b := Conv2D(s.At("conv"), Reshape(x, 1, 4, 2, 2), 50, 3, nn.ConvOpts{Padding: nn.Pair(1)}, true)
			n := BatchNorm(s.At("bn"), b, 0.1, 1e-5)
			e := Embedding(s.At("emb"), Const(x.Graph(), []int32{0}), 1000, 8, x.DType())
			return Add(Add(ReduceAllSum(a), ReduceAllSum(n)), ReduceAllSum(e))
		}, mk(c.DType, make([]float64, 16), 1, 16))
		if err != nil {
			t.Fatal(err)
		}
		check := func(key string, bound float64) {
			v := nntest.Flat(store.GetVariable("/" + nn.PathFromKey(key)).MustValue())
			mean, sq, mx := 0.0, 0.0, 0.0
			for _, a := range v {
				mean += a / float64(len(v))
				sq += a * a / float64(len(v))
				mx = math.Max(mx, math.Abs(a))
			}
			std := math.Sqrt(sq - mean*mean)
			// U(-b, b) has standard deviation b/sqrt(3).
			if mx > bound || math.Abs(std-bound/math.Sqrt(3)) > 0.1*bound/math.Sqrt(3) || math.Abs(mean) > 0.1*bound {
				t.Errorf("%s: max |w| %.4f, std %.4f, mean %.4f; want U(-%.4f, %.4f)", key, mx, std, mean, bound, bound)
			}
		}
		check("fc.weight", 0.25)              // 1/sqrt(16)
		check("fc.bias", 0.25)                //
		check("conv.weight", 1/math.Sqrt(36)) // fan_in 4*3*3
		emb := nntest.Flat(store.GetVariable("/emb/weight").MustValue())
		sq := 0.0
		for _, a := range emb {
			sq += a * a / float64(len(emb))
		}
		if math.Abs(math.Sqrt(sq)-1) > 0.05 {
			t.Errorf("Embedding weight std %.3f, want ~1 (N(0,1))", math.Sqrt(sq))
		}
		for key, want := range map[string]float64{"bn.weight": 1, "bn.bias": 0, "bn.running_mean": 0, "bn.running_var": 1} {
			for _, a := range nntest.Flat(store.GetVariable("/" + nn.PathFromKey(key)).MustValue()) {
				if a != want {
					t.Fatalf("%s initialised to %g, want %g", key, a, want)
				}
			}
		}
	})
}

func TestBatchNormRunningStats(t *testing.T) {
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		const B, C = 4, 2
		xd := randData(21, B*C*3)
		x := mk(c.DType, xd, B, C, 3)
		store := model.NewStore()
		run := func(training bool) []float64 {
			out, err := model.CallOnce(c.Backend, store, func(s *model.Scope, x *Node) *Node {
				store.SetTraining(x.Graph(), training)
				return BatchNorm(s.At("bn"), x, 0.1, 1e-5)
			}, x)
			if err != nil {
				t.Fatal(err)
			}
			return nntest.Flat(out)
		}
		run(true)
		rm := nntest.Flat(store.GetVariable("/bn/running_mean").MustValue())
		rv := nntest.Flat(store.GetVariable("/bn/running_var").MustValue())
		for ch := range C {
			var vals []float64
			for n := range B {
				vals = append(vals, xd[(n*C+ch)*3:(n*C+ch+1)*3]...)
			}
			m, v := 0.0, 0.0
			for _, a := range vals {
				m += a / float64(len(vals))
			}
			for _, a := range vals {
				v += (a - m) * (a - m) / float64(len(vals)-1)
			}
			if math.Abs(rm[ch]-0.1*m) > 1e-5 || math.Abs(rv[ch]-(0.9+0.1*v)) > 1e-5 {
				t.Errorf("channel %d: running mean/var %.6f/%.6f, want %.6f/%.6f", ch, rm[ch], rv[ch], 0.1*m, 0.9+0.1*v)
			}
		}
		if nb := tensors.ToScalar[int64](store.GetVariable("/bn/num_batches_tracked").MustValue()); nb != 1 {
			t.Errorf("num_batches_tracked = %d, want 1", nb)
		}
		// Inference uses the running statistics (weight 1, bias 0 still).
		got := run(false)
		for i, a := range xd {
			ch := (i / 3) % C
			want := (a - rm[ch]) / math.Sqrt(rv[ch]+1e-5)
			if math.Abs(got[i]-want) > 1e-4 {
				t.Fatalf("inference output[%d] = %.6f, want %.6f", i, got[i], want)
			}
		}
	})
}

func TestDropoutLayer(t *testing.T) {
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		store := model.NewStore()
		x := mk(c.DType, randData(31, 1000), 1000)
		run := func(training bool) []float64 {
			out, err := model.CallOnce(c.Backend, store, func(s *model.Scope, x *Node) *Node {
				store.SetTraining(x.Graph(), training)
				// Subtract nothing from the result: on the onnx backend a graph whose output is its input
				// parameter itself returns garbage (a backend aliasing bug), and eval Dropout is exactly that.
				return Sub(Dropout(s, x, 0.5), ZerosLike(x))
			}, x)
			if err != nil {
				t.Fatal(err)
			}
			return nntest.Flat(out)
		}
		xd := nntest.Flat(x)
		train, eval := run(true), run(false)
		zeros := 0
		for i := range xd {
			switch {
			case train[i] == 0:
				zeros++
			case math.Abs(train[i]-2*xd[i]) > 1e-5:
				t.Fatalf("training dropout kept %g from %g, want 2x", train[i], xd[i])
			}
			if eval[i] != xd[i] {
				t.Fatalf("eval dropout changed %g to %g", xd[i], eval[i])
			}
		}
		if zeros < 400 || zeros > 600 { // Binomial(1000, .5): sd ~16
			t.Errorf("dropout(0.5) zeroed %d of 1000", zeros)
		}
	})
}

func sameFloats(a, b []float64, tol float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Abs(a[i]-b[i]) > tol*math.Max(1, math.Abs(b[i])) {
			return false
		}
	}
	return true
}
