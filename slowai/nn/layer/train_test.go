package layer

import (
	"testing"

	"github.com/gomlx/compute/dtypes"
	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/internal/nntest"
)

// allLayersNet runs an image batch x [B, 1, 8, 8] through every layer of the package (and the weightless ops of
// nn) down to 2 outputs per example.
func allLayersNet(s *model.Scope, x *Node) *Node {
	b := x.Shape().Dimensions[0]
	h := Conv2D(s.At("c1"), x, 4, 3, nn.ConvOpts{Padding: nn.Pair(1)}, true) // [B,4,8,8]
	h = nn.ReLU(BatchNorm(s.At("bn"), h, 0.1, 1e-5))
	h = nn.MaxPool2D(h, 2, 2, 0)                                                                  // [B,4,4,4]
	h = Conv2D(s.At("c2"), h, 4, 3, nn.ConvOpts{Padding: nn.Pair(1), Groups: 2}, true)            // [B,4,4,4]
	h = nn.SiLU(GroupNorm(s.At("gn"), h, 2, 1e-5, true))                                          //
	h = UpConv(s.At("up"), h, 4, 3, 2, true)                                                      // [B,4,8,8]
	h = Conv2D(s.At("down"), h, 4, 4, nn.ConvOpts{Stride: nn.Pair(2), Padding: nn.Pair(1)}, true) // [B,4,4,4]
	h = nn.AvgPool2D(nn.GELU(h), 2, 2, 0)                                                         // [B,4,2,2]
	tok := Transpose(Reshape(h, b, 4, 4), 1, 2)                                                   // [B,T=4,C=4]
	tok = LayerNorm(s.At("ln"), tok, 1e-5, true)
	tok = Add(tok, MultiHeadSelfAttention(s.At("attn1"), tok, AttentionConfig{Heads: 2}, nil, true))
	ids := Const(x.Graph(), [][]int32{{1, 2, 3}})
	ctx := BroadcastToDims(Embedding(s.At("emb"), ids, 5, 3, x.DType()), b, 3, 3)
	tok = Add(tok, CrossAttention(s.At("attn2"), tok, ctx, AttentionConfig{Heads: 2}, nil))
	tok = Dropout(s, tok, 0.1)
	return Linear(s.At("head"), ReduceMean(tok, 1), 2, true) // [B,2]
}

// TestTrainingDecreasesLoss trains allLayersNet with plain SGD on a fixed regression problem (the targets are
// the mean brightness of the top and left halves of each image) and expects the loss to fall: every layer
// builds, differentiates and updates without panics on each backend.
func TestTrainingDecreasesLoss(t *testing.T) {
	const B, steps, lr = 8, 40, 0.05
	xd := randData(41, B*64)
	yd := make([]float64, 0, 2*B)
	for n := range B {
		top, left := 0.0, 0.0
		for i := range 8 {
			for j := range 8 {
				v := xd[n*64+i*8+j]
				if i < 4 {
					top += v / 32
				}
				if j < 4 {
					left += v / 32
				}
			}
		}
		yd = append(yd, 3*top, 3*left)
	}
	nntest.ForEachBackend(t, func(t *testing.T, c nntest.Case) {
		store := model.NewStore()
		if err := store.SetRNGStateFromSeed(1); err != nil {
			t.Fatal(err)
		}
		step, err := model.NewExec(c.Backend, store, func(s *model.Scope, x, y *Node) *Node {
			g := x.Graph()
			store.SetTraining(g, true)
			loss := ReduceAllMean(Square(Sub(allLayersNet(s, x), y)))
			var vars []*model.Variable
			var vals []*Node
			for v := range s.IterVariables() {
				if v.Trainable && v.DType().IsFloat() && v.InUseByGraph(g) {
					vars = append(vars, v)
					vals = append(vals, v.NodeValue(g))
				}
			}
			grads := Gradient(loss, vals...)
			for i, v := range vars {
				v.SetNodeValue(Sub(vals[i], MulScalar(grads[i], lr)))
			}
			return loss
		})
		if err != nil {
			t.Fatal(err)
		}
		defer step.Finalize()
		x, y := mk(c.DType, xd, B, 1, 8, 8), mk(c.DType, yd, B, 2)
		var losses []float64
		for range steps {
			out, err := step.Exec(x, y)
			if err != nil {
				t.Fatalf("training step on %s: %v", c.Name, err)
			}
			losses = append(losses, nntest.Flat(out[0])[0])
		}
		first := (losses[0] + losses[1] + losses[2]) / 3
		last := (losses[steps-1] + losses[steps-2] + losses[steps-3]) / 3
		t.Logf("%s: loss %.4f -> %.4f over %d SGD steps", c.Name, first, last, steps)
		if !(last < 0.5*first) {
			t.Errorf("loss fell from %.4f only to %.4f (want below half); all losses: %.4f", first, last, losses)
		}
		nb := store.GetVariable("/bn/num_batches_tracked")
		if nb == nil || nb.DType() != dtypes.Int64 {
			t.Fatalf("BatchNorm counter missing or not int64: %v", nb)
		}
	})
}
