package unet

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slowai-go/course/slowai/nn/module"

	"github.com/gomlx/compute"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/safetensors"
	"github.com/slowai-go/course/slowai/sd/vae"
	"github.com/slowai-go/course/slowai/sd/weights"
	"github.com/slowai-go/course/slowai/sd/weights/weightstest"
)

func TestGolden(t *testing.T) {
	weightstest.Golden(t, 2+11, func(be compute.Backend, report weights.ReportFunc) error {
		return CheckGolden("testdata", be, report)
	})
}

// TestSD1Size builds (without values) the full Stable Diffusion v1 UNet and checks its parameter
// count against diffusers' 859,520,964.
func TestSD1Size(t *testing.T) {
	u, err := New(SD1Config(), module.NewVars("/unet"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := u.Specs.NumParams(); n != 859520964 {
		t.Errorf("SD v1 UNet has %d parameters, want 859520964", n)
	}
	if n := u.Specs.Len(); n != 686 {
		t.Errorf("SD v1 UNet has %d tensors, want 686", n)
	}
}

// TestLinearProjection loads the golden weights into a use_linear_projection model (proj_in and
// proj_out as [C, C] Linear weights instead of [C, C, 1, 1] convs, as SD 2 checkpoints store
// them): a 1×1 conv and a Linear are the same map, so Predict must reproduce out_sample.
func TestLinearProjection(t *testing.T) {
	be := weightstest.GoBackend(t)
	src, err := safetensors.Open("testdata/diffusion_pytorch_model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var arrays []safetensors.Array
	reshaped := 0
	for _, name := range src.Names() {
		data, shape, _ := src.Float32(name)
		if (strings.HasSuffix(name, "proj_in.weight") || strings.HasSuffix(name, "proj_out.weight")) && len(shape) == 4 {
			shape = shape[:2]
			reshaped++
		}
		arrays = append(arrays, safetensors.F32(name, shape, data))
	}
	if reshaped != 14 { // 7 transformers (2 down, 1 mid, 2×2 up) × in, out
		t.Fatalf("reshaped %d projections, want 14", reshaped)
	}
	dir := t.TempDir()
	if err := safetensors.Save(filepath.Join(dir, "diffusion_pytorch_model.safetensors"), arrays, nil); err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	data, _ := os.ReadFile("testdata/config.json")
	json.Unmarshal(data, &cfg)
	cfg["use_linear_projection"] = true
	cfg["attention_head_dim"] = []int{4, 4, 4} // the same heads, given per block
	data, _ = json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "config.json"), data, 0o644)

	u, err := Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	// The conv-projection checkpoint must not load into it.
	if err := u.LoadWeights("testdata/diffusion_pytorch_model.safetensors"); err == nil || !strings.Contains(err.Error(), "proj_in.weight") {
		t.Errorf("conv-shaped projections accepted by a linear-projection model: %v", err)
	}

	f, _ := safetensors.Open("testdata/io.safetensors")
	defer f.Close()
	sample, _ := f.Tensor("sample")
	ts, _ := f.Tensor("timesteps")
	ctx, _ := f.Tensor("encoder_hidden_states")
	want, wantShape, _ := f.Float32("out_sample")
	out, err := u.Predict(sample, ts, ctx)
	if err != nil {
		t.Fatal(err)
	}
	d := weightstest.MaxDiff(t, out, want, wantShape)
	t.Logf("Predict with linear projections: max err %.2e", d)
	if d > 1e-3 {
		t.Errorf("max err %g > 1e-3", d)
	}
	if _, err := u.Predict(sample, ts, sample); err == nil {
		t.Error("Predict accepted a 4-D context")
	}
}

// TestVariants runs seeded random models on configurations the golden model does not cover:
// per-block heads and layers, two transformer layers per block, downsampling padding 0, a
// resnet-only mid block, linear projections, scale-shift time conditioning, and odd, non-square
// latents (which make the up path resize to the skip sizes instead of doubling).
func TestVariants(t *testing.T) {
	be := weightstest.GoBackend(t)
	base := func() Config {
		c, err := LoadConfig("testdata")
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	mid := "UNetMidBlock2D"
	cases := []struct {
		name string
		edit func(*Config)
		h, w int
	}{
		{"per-block heads and layers", func(c *Config) {
			c.AttentionHeadDim = List(2, 4, 4)
			c.LayersPerBlock = List(2, 1, 1)
			c.TransformerLayersPerBlock = One(One(2))
			c.DownsamplePadding = 0
			c.UseLinearProjection = true
		}, 8, 12},
		{"odd sizes, resnet mid block, scale-shift", func(c *Config) {
			c.MidBlockType = &mid
			c.ResnetTimeScaleShift = "scale_shift"
			c.CrossAttentionDim = One(24)
		}, 9, 14},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := base()
			c.edit(&cfg)
			u, err := NewRandom(cfg, be, 1)
			if err != nil {
				t.Fatal(err)
			}
			crossDim, _ := cfg.CrossAttentionDim.Expand(3)
			wave := func(n int) []float32 {
				v := make([]float32, n)
				for i := range v {
					v[i] = float32(math.Sin(0.37 * float64(i)))
				}
				return v
			}
			sample := tensors.FromFlatDataAndDimensions(wave(4*c.h*c.w), 1, 4, c.h, c.w)
			ctx := tensors.FromFlatDataAndDimensions(wave(5*crossDim[0]), 1, 5, crossDim[0])
			out, err := u.Predict(sample, tensors.FromScalar(int64(10)), ctx)
			if err != nil {
				t.Fatal(err)
			}
			data, shape := weights.Float32s(out)
			if !slices.Equal(shape, []int{1, 4, c.h, c.w}) {
				t.Errorf("output shape %v", shape)
			}
			for _, x := range data {
				if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
					t.Fatal("non-finite output")
				}
			}
		})
	}
}

func TestResizeNearest(t *testing.T) {
	be := weightstest.GoBackend(t)
	// 1×1×2×3 -> 3×5: rows read floor(i·2/3) = 0,0,1; columns floor(j·3/5) = 0,0,1,1,2.
	x := tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4, 5, 6}, 1, 1, 2, 3)
	got, err := ExecOnce(be, func(x *Node) *Node { return resizeNearest(x, 3, 5) }, x)
	if err != nil {
		t.Fatal(err)
	}
	want := []float32{1, 1, 2, 2, 3, 1, 1, 2, 2, 3, 4, 4, 5, 5, 6}
	if g, _ := weights.Float32s(got); !slices.Equal(g, want) {
		t.Errorf("got %v, want %v", g, want)
	}
}

func TestConfigParsing(t *testing.T) {
	var c Config
	c = DefaultConfig()
	err := json.Unmarshal([]byte(`{"attention_head_dim": [5, 10, 20, 20], "layers_per_block": 2,
		"transformer_layers_per_block": [1, 2, 10, 10], "num_attention_heads": null, "mid_block_type": null}`), &c)
	if err != nil {
		t.Fatal(err)
	}
	r, err := c.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.heads, []int{5, 10, 20, 20}) || c.MidBlockType != nil ||
		!slices.Equal(r.tlayersDown[1], []int{2, 2}) || !slices.Equal(r.tlayersUp[0], []int{10, 10, 10}) {
		t.Errorf("resolved %+v", r)
	}
	for _, bad := range []struct{ json, want string }{
		{`{"attention_head_dim": [8, 8]}`, "attention_head_dim"},
		{`{"class_embed_type": "timestep"}`, "class_embed_type"},
		{`{"down_block_types": ["SimpleCrossAttnDownBlock2D", "DownBlock2D", "DownBlock2D", "DownBlock2D"]}`, "SimpleCrossAttnDownBlock2D"},
		{`{"block_out_channels": [320, 640, 1280, 1000]}`, "norm_num_groups"},
		{`{"norm_num_groups": null}`, "norm_num_groups"},
	} {
		c := DefaultConfig()
		if err := json.Unmarshal([]byte(bad.json), &c); err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: want error mentioning %q, got %v", bad.json, bad.want, err)
		}
	}
}

// TestComposedGraph builds one graph, on an empty store, that runs the UNet and decodes its
// output with the VAE, and differentiates through both: models under distinct prefixes share a
// graph, as a pipeline with loss guidance needs.
func TestComposedGraph(t *testing.T) {
	be := weightstest.GoBackend(t)
	u, err := Load("testdata", be)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vae.Load("../vae/testdata", be)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := safetensors.Open("testdata/io.safetensors")
	defer f.Close()
	sample, _ := f.Tensor("sample")
	ts, _ := f.Tensor("timesteps")
	ctx, _ := f.Tensor("encoder_hidden_states")

	outs, err := model.ExecOnceN(be, model.NewStore(), func(_ *model.Scope, x, t, c *Node) []*Node {
		img := v.DecodeGraph(u.Forward(x, t, c))
		return []*Node{img, Gradient(ReduceAllSum(Square(img)), x)[0]}
	}, sample, ts, ctx)
	if err != nil {
		t.Fatal(err)
	}
	eps, err := u.Predict(sample, ts, ctx)
	if err != nil {
		t.Fatal(err)
	}
	want, err := v.Decode(eps)
	if err != nil {
		t.Fatal(err)
	}
	w, wShape := weights.Float32s(want)
	if d := weightstest.MaxDiff(t, outs[0], w, wShape); d > 1e-5 {
		t.Errorf("composed graph differs from Predict+Decode by %g", d)
	}
	g, _ := weights.Float32s(outs[1])
	var norm float64
	for _, x := range g {
		norm += float64(x) * float64(x)
	}
	if norm == 0 || math.IsNaN(norm) {
		t.Errorf("gradient through UNet and decoder has squared norm %v", norm)
	}
}
