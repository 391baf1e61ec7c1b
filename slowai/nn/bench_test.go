package nn_test

import (
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/nn"
)

// benchTensor is a deterministic float32 tensor of the given shape.
func benchTensor(dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%17)/17 - 0.5
	}
	return tensors.FromFlatDataAndDimensions(x, dims...)
}

// benchOp times one compiled graph on backend.New, after a first run that compiles it; gflop (if not
// zero) is reported as a GFLOP/s metric, to compare with the engine's matrix-product rate.
func benchOp[F ExecGraphFn](b *testing.B, gflop float64, fn F, args ...any) {
	be, err := backend.New()
	if err != nil {
		b.Fatal(err)
	}
	e := MustNewExec(be, fn)
	defer e.Finalize()
	run := func() {
		for _, r := range e.MustExec(args...) {
			r.FinalizeAll()
		}
	}
	run()
	for b.Loop() {
		run()
	}
	if gflop > 0 {
		b.ReportMetric(gflop*float64(b.N)/b.Elapsed().Seconds(), "GFLOP/s")
	}
}

// BenchmarkSDBlocks times the building blocks of Stable Diffusion's VAE decoder and UNet at the sizes
// they run at for a 512x512 image, each alone, to find which one falls behind its FLOP count. Run with
// -benchtime=1x: the biggest take seconds.
func BenchmarkSDBlocks(b *testing.B) {
	conv := func(x, w *Node) *Node { return nn.Conv2D(x, w, nil, nn.ConvOpts{Padding: nn.Pair(1)}) }
	for _, c := range []struct {
		name    string
		ch, hw  int
		convOut bool
	}{{"128x256x256", 128, 256, true}, {"512x64x64", 512, 64, true}, {"128x512x512", 128, 512, true}, {"256x256x256", 256, 256, false}} {
		if c.convOut {
			b.Run("Conv3x3/"+c.name, func(b *testing.B) {
				gflop := 2 * float64(c.ch*c.ch*9*c.hw*c.hw) / 1e9
				benchOp(b, gflop, conv, benchTensor(1, c.ch, c.hw, c.hw), benchTensor(c.ch, c.ch, 3, 3))
			})
		}
		b.Run("GroupNorm32/"+c.name, func(b *testing.B) {
			benchOp(b, 0, func(x, g *Node) *Node { return nn.GroupNorm(x, g, g, 32, 1e-6) },
				benchTensor(1, c.ch, c.hw, c.hw), benchTensor(c.ch))
		})
		b.Run("SiLU/"+c.name, func(b *testing.B) {
			benchOp(b, 0, nn.SiLU, benchTensor(1, c.ch, c.hw, c.hw))
		})
	}
	b.Run("UpsampleNearest2D/512x128x128", func(b *testing.B) {
		benchOp(b, 0, func(x *Node) *Node { return nn.UpsampleNearest2D(x, 2) }, benchTensor(1, 512, 128, 128))
	})
	// The VAE mid-block's single-head attention and the UNet's 8-head self-attention at 64x64 latents
	// (CFG batch 2, 320 channels); GFLOP/s counts the two matrix products.
	b.Run("Attention/1head-4096x512", func(b *testing.B) {
		benchOp(b, 4*4096.0*4096*512/1e9, func(q *Node) *Node { return nn.Attention(q, q, q, 1, nil, false) },
			benchTensor(1, 4096, 512))
	})
	b.Run("Attention/8heads-2x4096x320", func(b *testing.B) {
		benchOp(b, 2*4*4096.0*4096*320/1e9, func(q *Node) *Node { return nn.Attention(q, q, q, 8, nil, false) },
			benchTensor(2, 4096, 320))
	})
}
