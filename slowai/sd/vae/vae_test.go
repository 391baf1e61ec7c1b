package vae

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
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
	"github.com/slowai-go/course/slowai/sd/weights"
	"github.com/slowai-go/course/slowai/sd/weights/weightstest"
)

func TestGolden(t *testing.T) {
	weightstest.Golden(t, 10, func(be compute.Backend, report weights.ReportFunc) error {
		return CheckGolden("testdata", be, report)
	})
}

func golden(t *testing.T) *safetensors.File {
	t.Helper()
	f, err := safetensors.Open("testdata/io.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func compare(t *testing.T, what string, got *tensors.Tensor, f *safetensors.File, name string, tol float64) {
	t.Helper()
	want, wantShape, err := f.Float32(name)
	if err != nil {
		t.Fatal(err)
	}
	g, shape := weights.Float32s(got)
	d, err := weights.MaxAbsDiff(g, shape, want, wantShape)
	if err != nil || d > tol {
		t.Errorf("%s vs %s: max err %g (tol %g), %v", what, name, d, tol, err)
	}
}

// TestHostAPI checks Encode, Decode and Sample, the calls a pipeline makes.
func TestHostAPI(t *testing.T) {
	m, err := Load("testdata", weightstest.GoBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	f := golden(t)
	image, _ := f.Tensor("image")
	mean, logvar, err := m.Encode(image)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "Encode mean", mean, f, "posterior_mean", 1e-3)
	compare(t, "Encode logvar", logvar, f, "posterior_logvar", 1e-3)
	latents, _ := f.Tensor("latents")
	decoded, err := m.Decode(latents)
	if err != nil {
		t.Fatal(err)
	}
	compare(t, "Decode", decoded, f, "decoded", 1e-3)
	if _, err := m.Decode(image); err == nil {
		t.Error("Decode accepted a 3-channel image as latents")
	}

	s1, _ := Sample(mean, logvar, 7)
	s2, _ := Sample(mean, logvar, 7)
	s3, _ := Sample(mean, logvar, 8)
	a, _ := weights.Float32s(s1)
	b, _ := weights.Float32s(s2)
	c, _ := weights.Float32s(s3)
	mu, _ := weights.Float32s(mean)
	lv, _ := weights.Float32s(logvar)
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Error("Sample: same seed must repeat, another seed must differ")
	}
	// The standardised draws should look like N(0, 1): 1024 values, so mean within ±0.15 and
	// variance within 1 ± 0.2 are > 4 standard errors.
	var sum, sq float64
	for i := range a {
		z := float64(a[i]-mu[i]) / math.Exp(0.5*float64(lv[i]))
		sum += z
		sq += z * z
	}
	n := float64(len(a))
	if m, v := sum/n, sq/n-(sum/n)*(sum/n); math.Abs(m) > 0.15 || math.Abs(v-1) > 0.2 {
		t.Errorf("standardised samples have mean %.3f, variance %.3f", m, v)
	}
}

// TestDecodeGradient differentiates L(z) = Σ decode(z)·W through the decoder and compares
// with central finite differences at a few latent coordinates.
func TestDecodeGradient(t *testing.T) {
	for name, be := range weightstest.Backends(t) {
		t.Run(name, func(t *testing.T) { testDecodeGradient(t, be) })
	}
}

func testDecodeGradient(t *testing.T, be compute.Backend) {
	m, err := Load("testdata", be)
	if err != nil {
		t.Fatal(err)
	}
	f := golden(t)
	z, _, _ := f.Float32("latents") // [1, 4, 16, 16]
	rng := rand.New(rand.NewPCG(1, 2))
	w := make([]float32, 3*32*32)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	wT := tensors.FromFlatDataAndDimensions(w, 1, 3, 32, 32)
	loss := func(z, w *Node) *Node { return ReduceSum(Mul(m.DecodeGraph(z), w), 1, 2, 3) } // [B]
	grad, err := model.ExecOnce(be, m.Vars.Store, func(_ *model.Scope, z, w *Node) *Node {
		return Gradient(ReduceAllSum(loss(z, w)), z)[0]
	}, tensors.FromFlatDataAndDimensions(z, 1, 4, 16, 16), wT)
	if err != nil {
		t.Fatal(err)
	}
	g, _ := weights.Float32s(grad)

	// Probe three single coordinates and one random direction over all of them (a larger
	// derivative, so float32 rounding in the loss matters less).
	dirs := [][]float32{}
	for _, c := range []int{100, 517, 1023} {
		d := make([]float32, len(z))
		d[c] = 1
		dirs = append(dirs, d)
	}
	rnd := make([]float32, len(z))
	for i := range rnd {
		rnd[i] = float32(rng.NormFloat64())
	}
	dirs = append(dirs, rnd)
	const eps = 3e-2
	batch := make([]float32, 0, 2*len(dirs)*len(z))
	for _, d := range dirs {
		for _, sgn := range []float32{1, -1} {
			for i := range z {
				batch = append(batch, z[i]+sgn*eps*d[i])
			}
		}
	}
	losses, err := model.ExecOnce(be, m.Vars.Store, func(_ *model.Scope, z, w *Node) *Node {
		return loss(z, BroadcastToDims(w, z.Shape().Dimensions[0], 3, 32, 32))
	}, tensors.FromFlatDataAndDimensions(batch, 2*len(dirs), 4, 16, 16), wT)
	if err != nil {
		t.Fatal(err)
	}
	l, _ := weights.Float32s(losses)
	for i, d := range dirs {
		fd := float64(l[2*i]-l[2*i+1]) / (2 * eps)
		var ad float64
		for j := range d {
			ad += float64(g[j]) * float64(d[j])
		}
		t.Logf("direction %d: autodiff %.5f, finite difference %.5f", i, ad, fd)
		if math.Abs(fd-ad) > 0.01*math.Max(1, math.Abs(fd)) {
			t.Errorf("direction %d: autodiff %.5f, finite difference %.5f", i, ad, fd)
		}
	}
}

// TestLegacyNames rewrites the checkpoint with the pre-0.14 attention names (query, key, value,
// proj_attn), two of them as 1×1 conv weights, and checks it loads to exactly the same variables.
func TestLegacyNames(t *testing.T) {
	be := weightstest.GoBackend(t)
	ref, err := Load("testdata", be)
	if err != nil {
		t.Fatal(err)
	}
	src, err := safetensors.Open("testdata/diffusion_pytorch_model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	legacy := map[string]string{"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}
	var arrays []safetensors.Array
	renamed := 0
	for _, name := range src.Names() {
		data, shape, _ := src.Float32(name)
		out := name
		for newName, old := range legacy {
			if strings.Contains(name, ".attentions.0."+newName+".") {
				out = strings.Replace(name, "."+newName+".", "."+old+".", 1)
				renamed++
				if (old == "query" || old == "proj_attn") && len(shape) == 2 {
					shape = []int{shape[0], shape[1], 1, 1}
				}
			}
		}
		arrays = append(arrays, safetensors.F32(out, shape, data))
	}
	if renamed != 16 {
		t.Fatalf("renamed %d tensors, want 16 (2 mid blocks × 4 projections × weight, bias)", renamed)
	}
	dir := t.TempDir()
	cfg, _ := os.ReadFile("testdata/config.json")
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	path := filepath.Join(dir, "diffusion_pytorch_model.safetensors")
	if err := safetensors.Save(path, arrays, nil); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range ref.Specs.List() {
		a, _ := ref.Vars.Variable(sp.Name).Value()
		b, _ := m.Vars.Variable(sp.Name).Value()
		if !a.Shape().Equal(b.Shape()) || !slices.Equal(tensors.MustCopyFlatData[float32](a), tensors.MustCopyFlatData[float32](b)) {
			t.Errorf("%s differs after loading legacy names", sp.Name)
		}
	}

	// Old and new names for the same parameter is an error naming both.
	data, shape, _ := src.Float32("encoder.mid_block.attentions.0.to_q.weight")
	arrays = append(arrays, safetensors.F32("encoder.mid_block.attentions.0.to_q.weight", shape, data))
	safetensors.Save(path, arrays, nil)
	if _, err := Load(dir, be); err == nil || !strings.Contains(err.Error(), "attentions.0.query.weight") {
		t.Errorf("duplicate legacy+new names: %v", err)
	}
}

// TestSD1Size builds (without values) the full Stable Diffusion v1 VAE and checks its parameter
// count against diffusers' 83,653,863.
func TestSD1Size(t *testing.T) {
	m, err := New(SD1Config(), module.NewVars("/vae"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Specs.NumParams(); n != 83653863 {
		t.Errorf("SD v1 VAE has %d parameters, want 83653863", n)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.DownBlockTypes[0] = "AttnDownEncoderBlock2D" }, "AttnDownEncoderBlock2D"},
		{func(c *Config) { c.BlockOutChannels = []int{16} }, "same non-zero length"},
		{func(c *Config) { c.NormNumGroups = 5 }, "norm_num_groups"},
		{func(c *Config) { c.ActFn = "tanh" }, "tanh"},
	} {
		cfg, err := LoadConfig("testdata")
		if err != nil {
			t.Fatal(err)
		}
		c.edit(&cfg)
		if _, err := New(cfg, module.NewVars("/vae"), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error mentioning %q, got %v", c.want, err)
		}
	}
}

// toHalf rounds a float32 to the nearest IEEE half (normal range and zero only: enough here).
func toHalf(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	if f == 0 || math.Abs(float64(f)) < 6.2e-5 {
		return sign // flush the (tiny) subnormal range to zero
	}
	exp := int((b>>23)&0xff) - 127 + 15
	mant := b & 0x7fffff
	h := uint32(exp)<<10 | mant>>13
	if rest := mant & 0x1fff; rest > 0x1000 || (rest == 0x1000 && h&1 == 1) {
		h++
	}
	return sign | uint16(h)
}

// TestFP16Variant stores the checkpoint as F16 under the fp16 variant's file name: Load must
// find it, widen it to float32, and decode close to the float32 reference.
func TestFP16Variant(t *testing.T) {
	be := weightstest.GoBackend(t)
	src, err := safetensors.Open("testdata/diffusion_pytorch_model.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var arrays []safetensors.Array
	for _, name := range src.Names() {
		data, shape, _ := src.Float32(name)
		raw := make([]byte, 2*len(data))
		for i, x := range data {
			binary.LittleEndian.PutUint16(raw[2*i:], toHalf(x))
		}
		arrays = append(arrays, safetensors.Array{Name: name, DType: "F16", Shape: shape, Data: raw})
	}
	dir := t.TempDir()
	cfg, _ := os.ReadFile("testdata/config.json")
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	if err := safetensors.Save(filepath.Join(dir, "diffusion_pytorch_model.fp16.safetensors"), arrays, nil); err != nil {
		t.Fatal(err)
	}
	m, err := Load(dir, be)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := m.Vars.Variable("decoder.conv_in.weight").Value()
	ref, _, _ := src.Float32("decoder.conv_in.weight")
	got, _ := weights.Float32s(w)
	for i := range ref {
		if got[i] != safetensors.HalfToFloat32(toHalf(ref[i])) {
			t.Fatalf("element %d: %v is not the half rounding of %v", i, got[i], ref[i])
		}
	}
	f := golden(t)
	latents, _ := f.Tensor("latents")
	decoded, err := m.Decode(latents)
	if err != nil {
		t.Fatal(err)
	}
	// Half-precision weights (11-bit mantissa) move outputs of size ~1 by ~1e-3.
	compare(t, "Decode with fp16 weights", decoded, f, "decoded", 1e-2)
}
