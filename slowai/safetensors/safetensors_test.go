package safetensors

import (
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	err := Save(path, []Array{
		F32("b.weight", []int{2, 3}, []float32{1, -2, 3.5, 0, 1e-3, -7}),
		I64("a.ids", []int{3}, []int64{49406, -1, 7}),
		F32("scalar", nil, []float32{0.25}),
	}, map[string]string{"format": "pt"})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm()&0o044 != 0o044&^umask() {
		t.Errorf("saved file mode %v (%v): group and others should read it as the umask %03o allows", st.Mode(), err, umask())
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if got := strings.Join(f.Names(), ","); got != "a.ids,b.weight,scalar" {
		t.Errorf("names = %s", got)
	}
	if f.Metadata["format"] != "pt" {
		t.Errorf("metadata = %v", f.Metadata)
	}
	w, shape, err := f.Float32("b.weight")
	if err != nil || len(shape) != 2 || shape[1] != 3 || w[2] != 3.5 || w[5] != -7 {
		t.Errorf("b.weight = %v %v %v", w, shape, err)
	}
	ids, _, err := f.Int64("a.ids")
	if err != nil || ids[0] != 49406 || ids[1] != -1 {
		t.Errorf("a.ids = %v %v", ids, err)
	}
	s, shape, _ := f.Float32("scalar")
	if len(shape) != 0 || s[0] != 0.25 {
		t.Errorf("scalar = %v %v", s, shape)
	}
	tt, err := f.Tensor("b.weight")
	if err != nil || tt.Shape().Dimensions[0] != 2 {
		t.Errorf("tensor: %v %v", tt, err)
	}
	if _, _, err := f.Float32("missing"); err == nil || !strings.Contains(err.Error(), `"missing"`) {
		t.Errorf("missing tensor error = %v", err)
	}
	if _, _, err := f.Float32("a.ids"); err == nil {
		t.Error("reading I64 as float should fail")
	}
	dst := make([]float32, 6)
	if err := f.Float32Into("b.weight", dst); err != nil || dst[2] != 3.5 || dst[5] != -7 {
		t.Errorf("Float32Into = %v %v", dst, err)
	}
	if err := f.Float32Into("b.weight", dst[:5]); err == nil || !strings.Contains(err.Error(), "6 elements") || !strings.Contains(err.Error(), path) {
		t.Errorf("Float32Into with a short destination: %v", err)
	}
	// Header is padded to 8 bytes, as the reference writer does.
	raw, _ := os.ReadFile(path)
	if n := binary.LittleEndian.Uint64(raw); n%8 != 0 {
		t.Errorf("header length %d not a multiple of 8", n)
	}
}

func TestHalfPrecision(t *testing.T) {
	cases := []struct {
		bits uint16
		want float32
	}{
		{0x3c00, 1}, {0xc000, -2}, {0x3555, 0.33325195}, {0x7bff, 65504},
		{0x0001, 5.9604645e-08}, {0x0000, 0}, {0x8000, float32(math.Copysign(0, -1))},
	}
	for _, c := range cases {
		if got := HalfToFloat32(c.bits); got != c.want {
			t.Errorf("half %#04x = %v, want %v", c.bits, got, c.want)
		}
	}
	if !math.IsInf(float64(HalfToFloat32(0x7c00)), 1) || !math.IsNaN(float64(HalfToFloat32(0x7e00))) {
		t.Error("inf/nan")
	}
	// F16 and BF16 tensors widen to float32.
	path := filepath.Join(t.TempDir(), "h.safetensors")
	f16 := []byte{0x00, 0x3c, 0x00, 0xc0}  // 1, -2
	bf16 := []byte{0x80, 0x3f, 0x40, 0x40} // 1, 3
	if err := Save(path, []Array{{Name: "h", DType: "F16", Shape: []int{2}, Data: f16}, {Name: "b", DType: "BF16", Shape: []int{2}, Data: bf16}}, nil); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h, _, _ := f.Float32("h")
	b, _, _ := f.Float32("b")
	if h[0] != 1 || h[1] != -2 || b[0] != 1 || b[1] != 3 {
		t.Errorf("f16 %v bf16 %v", h, b)
	}
}

func TestBadFilesNameTheFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := Save(good, []Array{F32("x", []int{4}, []float32{1, 2, 3, 4})}, nil); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(good)
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o644)
		return p
	}
	hugeLen := append([]byte(nil), raw...)
	binary.LittleEndian.PutUint64(hugeLen, 1<<40)
	notJSON := append([]byte(nil), raw...)
	notJSON[8] = '!'
	cases := map[string]struct {
		path string
		want string
	}{
		"truncated data":   {write("trunc.safetensors", raw[:len(raw)-3]), "truncated"},
		"short file":       {write("short.safetensors", raw[:5]), "too short"},
		"huge header":      {write("huge.safetensors", hugeLen), "header length"},
		"bad json":         {write("json.safetensors", notJSON), "not valid JSON"},
		"wrong byte count": {write("count.safetensors", []byte(strings.Replace(string(raw), `"shape":[4]`, `"shape":[5]`, 1))), "needs"},
	}
	for name, c := range cases {
		_, err := Open(c.path)
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v should name %s and say %q", name, err, c.path, c.want)
		}
	}
	if err := Save(filepath.Join(dir, "bad.safetensors"), []Array{{Name: "x", DType: "F32", Shape: []int{2}, Data: []byte{1}}}, nil); err == nil {
		t.Error("saving inconsistent data should fail")
	}
	if _, err := os.Stat(filepath.Join(dir, "bad.safetensors")); !os.IsNotExist(err) {
		t.Error("failed save left a file behind")
	}
}

// The golden files were written by the reference implementation; reading one checks we agree on the format.
func TestReadsGoldenFile(t *testing.T) {
	path := "../../../shared/golden/schedulers/ddim/steps_10.safetensors"
	if _, err := os.Stat(path); err != nil {
		t.Skip("shared golden data not present")
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ts, shape, err := f.Int64("timesteps")
	if err != nil || len(shape) != 1 || shape[0] != 10 || ts[0] != 901 || ts[9] != 1 {
		t.Errorf("timesteps = %v %v %v", ts, shape, err)
	}
	ac, _, err := f.Float32("alphas_cumprod")
	if err != nil || len(ac) != 1000 || math.Abs(float64(ac[0])-(1-0.00085)) > 1e-7 {
		t.Errorf("alphas_cumprod[0] = %v %v", ac[0], err)
	}
}

// rawFile writes a safetensors file from a hand-written header and data section.
func rawFile(t *testing.T, name, header string, data []byte) string {
	t.Helper()
	var b []byte
	b = binary.LittleEndian.AppendUint64(b, uint64(len(header)))
	b = append(b, header...)
	b = append(b, data...)
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMalformedOffsetsAndShapes: byte ranges must tile the data section exactly (the reference
// implementation's rule) and element counts that overflow int64 are refused; each error names
// the file and the tensor.
func TestMalformedOffsetsAndShapes(t *testing.T) {
	data := make([]byte, 16)
	cases := []struct {
		name, header, want string
	}{
		{"overlap", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`,
			`tensor "b" (data_offsets [4 12]) overlaps tensor "a"`},
		{"same bytes", `{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`,
			`overlaps tensor`},
		{"gap", `{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`,
			`4 unused bytes between tensor "a"`},
		{"late start", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}`,
			`tensor "a" starts at data offset 8`},
		{"trailing bytes", `{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`,
			`8 bytes belong to no tensor`},
		{"overflow", `{"a":{"dtype":"F32","shape":[4294967296,4294967296,2],"data_offsets":[0,16]}}`,
			`tensor "a": shape [4294967296 4294967296 2] of F32: negative dimension or more bytes than an int64 can count`},
		{"overflow to a small count", `{"a":{"dtype":"U8","shape":[4294967296,4294967296,16],"data_offsets":[0,16]}}`,
			`more bytes than an int64 can count`},
		{"negative", `{"a":{"dtype":"F32","shape":[-1,4],"data_offsets":[0,16]}}`,
			`negative dimension`},
	}
	for _, c := range cases {
		p := rawFile(t, "bad.safetensors", c.header, data)
		f, err := Open(p)
		if err == nil {
			f.Close()
			t.Errorf("%s: opened without error", c.name)
			continue
		}
		if !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q should name %s and say %q", c.name, err, p, c.want)
		}
	}
	// Zero-sized tensors take no bytes and may share an offset.
	p := rawFile(t, "ok.safetensors", `{"e":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"z":{"dtype":"I8","shape":[3,0],"data_offsets":[16,16]}}`, data)
	f, err := Open(p)
	if err != nil {
		t.Fatalf("a well-formed file with empty tensors: %v", err)
	}
	f.Close()
}

// TestFiniteFloat32 refuses NaN and infinities, naming the file, the tensor and the first bad value.
func TestFiniteFloat32(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	nan := float32(math.NaN())
	err := Save(path, []Array{
		F32("ok", []int{3}, []float32{1, -2, 3}),
		F32("bad", []int{2, 2}, []float32{1, nan, float32(math.Inf(-1)), 4}),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if v, _, err := f.FiniteFloat32("ok"); err != nil || v[2] != 3 {
		t.Errorf("finite tensor: %v %v", v, err)
	}
	_, _, err = f.FiniteFloat32("bad")
	want := `tensor "bad" [2 2]: 2 of 4 values are not finite (the first, at index 1, is NaN)`
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v, want it to name %s and say %q", err, path, want)
	}
}

// umask reads the process's umask (setting it back at once).
func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}
