package module

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/backend"
)

// TestBatchNorm runs two training steps and one evaluation of BatchNorm on [4, 2, 3] and compares
// outputs and running statistics with a float64 reference of PyTorch's rules.
func TestBatchNorm(t *testing.T) {
	be, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	s := &Specs{}
	bn := NewBatchNorm(s, "bn", 2)
	v := NewVars("/m")
	if err := Randomize(v, s, 1); err != nil {
		t.Fatal(err)
	}
	const B, C, L = 4, 2, 3
	x := make([]float32, B*C*L)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)*1.7) * float64(1+i%3))
	}
	run := func(train bool) []float32 {
		outs, err := model.ExecOnceN(be, v.Store, func(_ *model.Scope, in []*Node) []*Node {
			vv := v
			vv.Train = train
			taps := &Taps{}
			vv.Taps = taps
			seq := &Sequential{}
			seq.Add("bn", bn).Add("relu", Fn(func(x *Node) *Node { return Max(x, ZerosLike(x)) }))
			y := seq.Apply(vv, in[0])
			if len(taps.Names) != 2 || taps.Names[1] != "relu" || taps.Nodes[1] != y {
				t.Errorf("taps %v", taps.Names)
			}
			return []*Node{taps.Nodes[0]}
		}, tensors.FromFlatDataAndDimensions(x, B, C, L))
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](outs[0])
	}
	rm, rv := []float64{0, 0}, []float64{1, 1}
	for step := range 3 {
		train := step < 2
		got := run(train)
		for c := range C {
			var mean, vr float64
			for b := range B {
				for l := range L {
					mean += float64(x[(b*C+c)*L+l])
				}
			}
			mean /= B * L
			for b := range B {
				for l := range L {
					d := float64(x[(b*C+c)*L+l]) - mean
					vr += d * d
				}
			}
			vr /= B * L
			m, va := rm[c], rv[c]
			if train {
				m, va = mean, vr
			}
			for b := range B {
				for l := range L {
					i := (b*C+c)*L + l
					want := (float64(x[i]) - m) / math.Sqrt(va+1e-5) // weight 1, bias 0 at init
					if math.Abs(float64(got[i])-want) > 1e-4 {
						t.Fatalf("step %d (train %v) [%d,%d,%d] = %v, want %v", step, train, b, c, l, got[i], want)
					}
				}
			}
			if train {
				rm[c] = 0.9*rm[c] + 0.1*mean
				rv[c] = 0.9*rv[c] + 0.1*vr*B*L/(B*L-1)
			}
		}
		val, _ := v.Variable("bn.running_var").Value()
		gotRV := tensors.MustCopyFlatData[float32](val)
		for c := range C {
			if math.Abs(float64(gotRV[c])-rv[c]) > 1e-5 {
				t.Fatalf("after step %d running_var[%d] = %v, want %v", step, c, gotRV[c], rv[c])
			}
		}
	}
	if sp, _ := s.Lookup("bn.running_mean"); !sp.Buffer {
		t.Error("running_mean is not marked as a buffer")
	}
}
