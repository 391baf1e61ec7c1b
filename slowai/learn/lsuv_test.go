package learn

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"

	"github.com/slowai-go/course/slowai/data"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
	"github.com/slowai-go/course/slowai/optim"
)

// TestLSUV initialises a two-hidden-layer MLP with GeneralReLUs by LSUV and recomputes, in float64
// on the host from the stored weights, each activation's mean and std on the batch LSUV used: both
// must be 0 and 1 within the tolerance (they start far from it), and the loader must give that
// same batch again.
func TestLSUV(t *testing.T) {
	s := &module.Specs{}
	seq := &module.Sequential{}
	act := module.Fn(func(x *Node) *Node { return nn.GeneralReLU(x, 0.1, 0.4, 0) })
	seq.Add("flatten", module.Flatten).
		Add("l0", module.NewLinear(s, "l0", 4, 16, true)).Add("act0", act).
		Add("l1", module.NewLinear(s, "l1", 16, 16, true)).Add("act1", act).
		Add("out", module.NewLinear(s, "out", 16, 3, true))
	dls, err := data.NewLoaders(blobs(t, 64, 1), blobs(t, 30, 2), 64, data.LoaderOptions{Shuffle: true, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	u := &LSUV{Layers: []LSUVLayer{{"act0", "l0"}, {"act1", "l1"}}, Tol: 1e-3}
	l, err := New(Net(s, seq), dls, CrossEntropy, optim.SGD{LR: 0.1}, Options{Backend: engine(t), Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := u.BeforeFit(l); err != nil {
		t.Fatal(err)
	}
	if len(u.Before) != 2 || len(u.After) != 2 {
		t.Fatalf("LSUV recorded %d/%d layers, want 2", len(u.Before), len(u.After))
	}
	if math.Abs(u.Before[0][1]-1) < 0.1 && math.Abs(u.Before[1][1]-1) < 0.1 {
		t.Fatalf("activation stds before LSUV %v: the test needs them away from 1", u.Before)
	}
	b, _ := l.Data.Train.Next()
	h := b.X
	n, in := b.N, 4
	hs := make([]float64, len(h))
	for i, v := range h {
		hs[i] = float64(v)
	}
	for _, name := range []string{"l0", "l1"} {
		w, _ := module.Values(l.Vars, name+".weight")
		bias, _ := module.Values(l.Vars, name+".bias")
		out := len(bias)
		next := make([]float64, n*out)
		var sum, sq float64
		for r := range n {
			for o := range out {
				z := float64(bias[o])
				for i := range in {
					z += hs[r*in+i] * float64(w[o*in+i])
				}
				if z < 0 {
					z *= 0.1
				}
				z -= 0.4
				next[r*out+o] = z
				sum += z
			}
		}
		mean := sum / float64(n*out)
		for _, z := range next {
			sq += (z - mean) * (z - mean)
		}
		std := math.Sqrt(sq / float64(n*out))
		if math.Abs(mean) > 2e-3 || math.Abs(std-1) > 2e-3 {
			t.Errorf("after LSUV, %s's activation has mean %.4g std %.4g, want 0 and 1", name, mean, std)
		}
		hs, in = next, out
	}
}
