package module

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/slowai-go/course/slowai/nn"
)

// moments are the sample mean and variance of data.
func moments(data []float32) (mean, variance float64) {
	for _, x := range data {
		mean += float64(x)
	}
	mean /= float64(len(data))
	for _, x := range data {
		variance += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, variance / float64(len(data))
}

// TestInitVariance draws each scheme on a large weight and compares the sample variance with
// the scheme's closed form: within 3% (the sample of 98k values has a relative standard error
// of about 0.5-1%).
func TestInitVariance(t *testing.T) {
	shape := []int{128, 64, 3, 4} // fan_in 768, fan_out 1536
	fanIn, fanOut := 64*12, 128*12
	cases := []struct {
		name string
		sp   Spec
		want float64
	}{
		{"pytorch default", Spec{Init: InitFanIn}, 1 / (3 * float64(fanIn))},
		{"xavier uniform", Spec{Init: InitXavierUniform}, 2 / float64(fanIn+fanOut)},
		{"xavier normal", Spec{Init: InitXavierNormal}, 2 / float64(fanIn+fanOut)},
		{"kaiming relu", Spec{Init: InitKaiming}, 2 / float64(fanIn)},
		{"kaiming leak 0.1", Spec{Init: InitKaiming, Leak: 0.1}, 2 / (1.01 * float64(fanIn))},
		{"embedding", Spec{Init: InitEmbedding}, 0.02 * 0.02},
		{"bias", Spec{Init: InitBias, FanIn: 25}, 1.0 / 75},
	}
	for _, c := range cases {
		c.sp.Shape = shape
		data := make([]float32, size(shape))
		fillRandom(c.sp, data, rand.New(rand.NewPCG(1, 2)))
		mean, v := moments(data)
		if math.Abs(v/c.want-1) > 0.03 || math.Abs(mean) > 4*math.Sqrt(c.want/float64(len(data))) {
			t.Errorf("%s: mean %.3g variance %.4g, want 0 and %.4g", c.name, mean, v, c.want)
		}
	}
	for _, c := range []struct {
		init Init
		want float32
	}{{InitOnes, 1}, {InitZeros, 0}} {
		data := []float32{7, 7, 7}
		fillRandom(Spec{Shape: []int{3}, Init: c.init}, data, rand.New(rand.NewPCG(1, 2)))
		for _, x := range data {
			if x != c.want {
				t.Errorf("init %d gave %v, want all %v", c.init, data, c.want)
			}
		}
	}
}

// TestOrthogonal checks W·Wᵀ = I for a wide matrix and Wᵀ·W = I for a tall one.
func TestOrthogonal(t *testing.T) {
	for _, sh := range [][]int{{6, 20}, {20, 6}, {4, 2, 3, 3}} {
		rows := sh[0]
		cols := size(sh) / rows
		m := make([]float32, size(sh))
		fillRandom(Spec{Shape: sh, Init: InitOrthogonal}, m, rand.New(rand.NewPCG(3, 4)))
		n, d := rows, cols
		at := func(i, j int) float64 { return float64(m[i*cols+j]) }
		if rows > cols {
			n, d = cols, rows
			at = func(i, j int) float64 { return float64(m[j*cols+i]) }
		}
		for i := range n {
			for k := range n {
				dot := 0.0
				for j := range d {
					dot += at(i, j) * at(k, j)
				}
				want := 0.0
				if i == k {
					want = 1
				}
				if math.Abs(dot-want) > 1e-5 {
					t.Fatalf("shape %v: vectors %d·%d = %v, want %v", sh, i, k, dot, want)
				}
			}
		}
	}
}

func TestFansAndStds(t *testing.T) {
	if in, out := Fans([]int{8, 3, 5, 5}); in != 75 || out != 200 {
		t.Errorf("Fans = %d, %d; want 75, 200", in, out)
	}
	if in, out := Fans([]int{7}); in != 7 || out != 7 {
		t.Errorf("Fans of a vector = %d, %d", in, out)
	}
	if s := KaimingStd(50, 0); math.Abs(s-0.2) > 1e-12 {
		t.Errorf("KaimingStd(50, 0) = %v, want 0.2", s)
	}
	if s := XavierStd(30, 70); math.Abs(s-math.Sqrt(0.02)) > 1e-12 {
		t.Errorf("XavierStd(30, 70) = %v", s)
	}
}

// TestSetInit switches a conv net's weights to Kaiming (leak 0.1) and checks that Randomize then
// draws them with variance 2/((1+leak²)·fan_in), while biases keep their PyTorch default.
func TestSetInit(t *testing.T) {
	s := &Specs{}
	NewConv2D(s, "0", 8, 64, 3, nn.ConvOpts{})
	NewLinear(s, "1", 576, 96, true)
	NewBatchNorm(s, "bn", 96)
	if n := s.SetInit(InitKaiming, 0.1, IsWeight); n != 2 {
		t.Fatalf("SetInit changed %d specs, want the 2 weights", n)
	}
	v := NewVars("/m")
	if err := Randomize(v, s, 3); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		want float64
	}{
		{"0.weight", 2 / (1.01 * 72)},
		{"1.weight", 2 / (1.01 * 576)},
		{"0.bias", 1.0 / (3 * 72)},
		{"bn.running_var", 0},
	} {
		data, err := Values(v, c.name)
		if err != nil {
			t.Fatal(err)
		}
		_, got := moments(data)
		if c.want == 0 && got != 0 || c.want != 0 && math.Abs(got/c.want-1) > 0.1 {
			t.Errorf("%s: variance %.4g, want %.4g", c.name, got, c.want)
		}
	}
}

func TestNumTrainable(t *testing.T) {
	s := &Specs{}
	NewLinear(s, "l", 3, 2, true) // 6 + 2
	NewBatchNorm(s, "bn", 4)      // 4 + 4 trained, 8 in buffers
	if got := s.NumTrainable(); got != 16 {
		t.Errorf("NumTrainable = %d, want 16", got)
	}
	if got := s.NumParams(); got != 24 {
		t.Errorf("NumParams = %d, want 24", got)
	}
}
