package nn

import (
	"math"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/nn/internal/nntest"
)

// TestAdam checks two Adam steps of the helpers against the update written out in float64.
func TestAdam(t *testing.T) {
	if got, want := AdamLR(0.1, 0.9, 0.999, 1), 0.1*math.Sqrt(0.001)/0.1; math.Abs(got-want) > 1e-15 {
		t.Errorf("AdamLR at step 1 = %v, want %v", got, want)
	}
	p0, grads := []float64{1, -2, 0.5}, [][]float64{{0.3, -0.1, 2}, {-0.2, 0.4, 1}}
	const lr, b1, b2, eps = 0.01, 0.9, 0.999, 1e-8
	want := append([]float64(nil), p0...)
	m, v := make([]float64, 3), make([]float64, 3)
	for s, g := range grads {
		step := AdamLR(lr, b1, b2, s+1)
		for i := range want {
			m[i] = b1*m[i] + (1-b1)*g[i]
			v[i] = b2*v[i] + (1-b2)*g[i]*g[i]
			want[i] -= step * m[i] / (math.Sqrt(v[i]) + eps)
		}
	}
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		vec := func(x []float64) *tensors.Tensor { return tensors.FromFlatDataAndDimensions(x, len(x)) }
		p, mt, vt := vec(p0), vec(make([]float64, 3)), vec(make([]float64, 3))
		for s, g := range grads {
			out, err := ExecOnceN(c.Backend, func(p, m, v, g, lr *Node) (*Node, *Node, *Node) {
				m, v = AdamMoments(m, v, g, b1, b2)
				return AdamUpdate(p, m, v, lr, eps), m, v
			}, p, mt, vt, vec(g), AdamLR(lr, b1, b2, s+1))
			if err != nil {
				t.Fatal(err)
			}
			p, mt, vt = out[0], out[1], out[2]
		}
		got := tensors.MustCopyFlatData[float64](p)
		for i := range got {
			if math.Abs(got[i]-want[i]) > 1e-12 {
				t.Errorf("parameter %d after two steps: %v, want %v", i, got[i], want[i])
			}
		}
	})
}
