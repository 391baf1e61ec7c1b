package tensor

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/slowai-go/course/slowai/backend"
)

// reference is a·b accumulated in float64, the yardstick for every float32 product.
func reference(a, b *Matrix) []float64 {
	out := make([]float64, a.Rows*b.Cols)
	for i := 0; i < a.Rows; i++ {
		for j := 0; j < b.Cols; j++ {
			for k := 0; k < a.Cols; k++ {
				out[i*b.Cols+j] += float64(a.At(i, k)) * float64(b.At(k, j))
			}
		}
	}
	return out
}

func approx(t *testing.T, name string, got []float32, want []float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if d := math.Abs(float64(got[i]) - want[i]); d > tol*(1+math.Abs(want[i])) {
			t.Fatalf("%s: value %d is %g, want %g", name, i, got[i], want[i])
		}
	}
}

func TestMatMuls(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	a, b := Randn(r, 37, 53), Randn(r, 53, 11)
	want := reference(a, b)
	approx(t, "naive", MatMulNaive(a, b).Data, want, 1e-5)
	approx(t, "ikj", MatMulIKJ(a, b).Data, want, 1e-5)
	approx(t, "parallel", MatMulParallel(a, b).Data, want, 1e-5)
	// A hand-checked 2×2 case.
	x, _ := FromSlice(2, 2, []float32{1, 2, 3, 4})
	y, _ := FromSlice(2, 2, []float32{5, 6, 7, 8})
	if got := MatMulNaive(x, y).Data; !slices.Equal(got, []float32{19, 22, 43, 50}) {
		t.Errorf("[[1 2][3 4]]·[[5 6][7 8]] = %v, want [19 22 43 50]", got)
	}
}

func TestMatMulShapeMismatchPanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "cannot multiply 2×3 by 2×3") {
			t.Errorf("panic = %v, want one naming both shapes", r)
		}
	}()
	MatMulNaive(New(2, 3), New(2, 3))
}

func TestEngineMatMul(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	e, err := NewEngine(be)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(3, 4))
	a, b := Randn(r, 5, 784), Randn(r, 784, 10)
	got, err := e.MatMul(a, b)
	if err != nil {
		t.Fatal(err)
	}
	approx(t, "engine", got.Data, reference(a, b), 1e-4)
	ra, err := e.Upload(a)
	if err != nil {
		t.Fatal(err)
	}
	rb, err := e.Upload(b)
	if err != nil {
		t.Fatal(err)
	}
	got, err = e.MatMulResident(ra, rb)
	if err != nil {
		t.Fatal(err)
	}
	approx(t, "engine, resident", got.Data, reference(a, b), 1e-4)
	if _, err := e.MatMulResident(ra, ra); err == nil {
		t.Error("resident 5×784 by 5×784 gave no error")
	}
	if _, err := e.MatMul(a, a); err == nil {
		t.Error("5×784 by 5×784 gave no error")
	}
}

func TestBroadcastShape(t *testing.T) {
	for _, c := range []struct {
		a, b, want []int
	}{
		{[]int{3, 4}, []int{4}, []int{3, 4}},
		{[]int{3, 1}, []int{1, 4}, []int{3, 4}},
		{[]int{5, 1, 2}, []int{1, 7, 2}, []int{5, 7, 2}},
		{[]int{}, []int{2, 3}, []int{2, 3}},
		{[]int{8, 1, 6, 1}, []int{7, 1, 5}, []int{8, 7, 6, 5}},
	} {
		got, err := BroadcastShape(c.a, c.b)
		if err != nil || !slices.Equal(got, c.want) {
			t.Errorf("BroadcastShape(%v, %v) = %v, %v; want %v", c.a, c.b, got, err, c.want)
		}
	}
	if _, err := BroadcastShape([]int{3, 4}, []int{3}); err == nil || !strings.Contains(err.Error(), "size 4 against 3") {
		t.Errorf("[3 4] with [3]: err = %v, want a size mismatch", err)
	}
}

func TestZipBroadcasts(t *testing.T) {
	m, _ := NewTensor([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	row, _ := NewTensor([]float32{10, 20, 30}, 3)
	col, _ := NewTensor([]float32{100, 200}, 2, 1)
	scalar, _ := NewTensor([]float32{2})
	for _, c := range []struct {
		name string
		got  func() (*Tensor, error)
		want []float32
	}{
		{"matrix+row", func() (*Tensor, error) { return Add(m, row) }, []float32{11, 22, 33, 14, 25, 36}},
		{"matrix+column", func() (*Tensor, error) { return Add(m, col) }, []float32{101, 102, 103, 204, 205, 206}},
		{"column×row (outer)", func() (*Tensor, error) { return Mul(col, row) }, []float32{1000, 2000, 3000, 2000, 4000, 6000}},
		{"row-matrix", func() (*Tensor, error) { return Sub(row, m) }, []float32{9, 18, 27, 6, 15, 24}},
		{"matrix×scalar", func() (*Tensor, error) { return Mul(m, scalar) }, []float32{2, 4, 6, 8, 10, 12}},
	} {
		got, err := c.got()
		if err != nil || !slices.Equal(got.Data, c.want) || !slices.Equal(got.Shape, []int{2, 3}) {
			t.Errorf("%s = %v, %v; want shape [2 3] and %v", c.name, got, err, c.want)
		}
	}
}

func TestSum(t *testing.T) {
	x, _ := NewTensor([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	for axis, want := range [][]float32{{5, 7, 9}, {6, 15}} {
		got, err := Sum(x, axis)
		if err != nil || !slices.Equal(got.Data, want) || len(got.Shape) != 1 {
			t.Errorf("Sum(axis %d) = %v, %v; want %v", axis, got, err, want)
		}
	}
	if _, err := Sum(x, 2); err == nil {
		t.Error("Sum over axis 2 of a matrix gave no error")
	}
}

func TestEinsum(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	a, b := Randn(r, 4, 6), Randn(r, 6, 3)
	got, err := Einsum("ik,kj->ij", a.Tensor(), b.Tensor())
	if err != nil {
		t.Fatal(err)
	}
	approx(t, "ik,kj->ij", got.Data, reference(a, b), 1e-5)

	u, _ := NewTensor([]float32{1, 2}, 2)
	v, _ := NewTensor([]float32{3, 4, 5}, 3)
	outer, err := Einsum("i,j->ij", u, v)
	if err != nil || !slices.Equal(outer.Data, []float32{3, 4, 5, 6, 8, 10}) {
		t.Errorf("outer = %v, %v", outer, err)
	}
	w, _ := NewTensor([]float32{1, 2, 3}, 3)
	dot, err := Einsum("i,i->", v, w)
	if err != nil || len(dot.Shape) != 0 || dot.Data[0] != 26 {
		t.Errorf("dot = %v, %v; want 26", dot, err)
	}
	sq, _ := NewTensor([]float32{1, 2, 3, 4}, 2, 2)
	one, _ := NewTensor([]float32{1})
	trace, err := Einsum("ii,->", sq, one)
	if err != nil || trace.Data[0] != 5 {
		t.Errorf("trace = %v, %v; want 5", trace, err)
	}
	// Batched: each batch item is its own matrix product.
	x, _ := NewTensor(slices.Concat(a.Data, a.Data), 2, 4, 6)
	y, _ := NewTensor(slices.Concat(b.Data, b.Data), 2, 6, 3)
	batched, err := Einsum("bik,bkj->bij", x, y)
	if err != nil {
		t.Fatal(err)
	}
	approx(t, "batched", batched.Data, slices.Concat(reference(a, b), reference(a, b)), 1e-5)

	for _, spec := range []string{"ik,kj", "ik,jj->ij", "ik,kj->iz", "ij,jk->ii", "i,kj->ij"} {
		if _, err := Einsum(spec, a.Tensor(), b.Tensor()); err == nil {
			t.Errorf("Einsum(%q) gave no error", spec)
		}
	}
}

// Benchmarks: the lesson's timing table. Run with
// go test -bench . ./slowai/tensor (SLOWAI_BACKEND picks the engine).
func benchProduct(bm *testing.B, rows int, mul func(a, b *Matrix) *Matrix) {
	r := rand.New(rand.NewPCG(7, 8))
	a, b := Randn(r, rows, 784), Randn(r, 784, 10)
	mul(a, b) // warm up: the engine compiles its graph on the first call; b.Loop times what follows
	for bm.Loop() {
		mul(a, b)
	}
}

func BenchmarkNaive5(b *testing.B)        { benchProduct(b, 5, MatMulNaive) }
func BenchmarkIKJ5(b *testing.B)          { benchProduct(b, 5, MatMulIKJ) }
func BenchmarkNaive10000(b *testing.B)    { benchProduct(b, 10000, MatMulNaive) }
func BenchmarkIKJ10000(b *testing.B)      { benchProduct(b, 10000, MatMulIKJ) }
func BenchmarkParallel10000(b *testing.B) { benchProduct(b, 10000, MatMulParallel) }
func BenchmarkEngine5(b *testing.B)       { benchEngine(b, 5) }
func BenchmarkEngine10000(b *testing.B)   { benchEngine(b, 10000) }

func benchEngine(bm *testing.B, rows int) {
	be, err := backend.New()
	if err != nil {
		bm.Fatal(err)
	}
	e, err := NewEngine(be)
	if err != nil {
		bm.Fatal(err)
	}
	benchProduct(bm, rows, func(a, b *Matrix) *Matrix {
		c, err := e.MatMul(a, b)
		if err != nil {
			bm.Fatal(err)
		}
		return c
	})
}

// BenchmarkEngineResident10000 times the product alone, with both matrices already in the engine.
func BenchmarkEngineResident10000(bm *testing.B) {
	be, err := backend.New()
	if err != nil {
		bm.Fatal(err)
	}
	e, err := NewEngine(be)
	if err != nil {
		bm.Fatal(err)
	}
	r := rand.New(rand.NewPCG(7, 8))
	a, _ := e.Upload(Randn(r, 10000, 784))
	b, _ := e.Upload(Randn(r, 784, 10))
	if _, err := e.MatMulResident(a, b); err != nil { // warm up: compiles the graph
		bm.Fatal(err)
	}
	for bm.Loop() {
		e.MatMulResident(a, b)
	}
}
