package pipeline

import (
	"fmt"

	"github.com/gomlx/compute/dtypes"
	G "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	"github.com/slowai-go/course/slowai/sd/weights"
)

// LossGuide steers sampling towards pictures a differentiable loss likes. Every Every steps the
// predicted clean latents x0 = (x − b·ε)/a are decoded by the VAE, the loss is computed on the
// image, and the latents move against its gradient: x ← x − Scale·σ²·∂loss/∂x, with σ = b/a the
// step's noise-to-signal ratio. The σ² weighting (from the "Stable Diffusion deep dive") makes
// early, noisy steps move further, where a nudge still has room to grow into structure.
type LossGuide struct {
	// Loss maps the decoded image [1, 3, H, W] (values about [0, 1], not clamped) to a scalar;
	// a non-scalar result is summed.
	Loss  func(img *G.Node) *G.Node
	Scale float64
	Every int // evaluate every Every steps; 0 means every step
}

// BlueLoss is the course's example guide loss: the mean distance of the blue channel from
// target, so lowering it makes the picture bluer.
func BlueLoss(target float64) func(img *G.Node) *G.Node {
	return func(img *G.Node) *G.Node {
		blue := G.Slice(img, G.AxisRange(), G.AxisElem(2))
		return G.ReduceAllMean(G.Abs(G.AddScalar(blue, -target)))
	}
}

// guideExec is the compiled loss-and-gradient graph of one LossGuide.
type guideExec struct {
	exec  *model.Exec
	scale float64
	every int
}

func (sd *StableDiffusion) newGuideExec(g *LossGuide) (*guideExec, error) {
	if g.Loss == nil {
		return nil, fmt.Errorf("pipeline: LossGuide.Loss is nil")
	}
	if g.Every < 0 {
		return nil, fmt.Errorf("pipeline: LossGuide.Every = %d, expected ≥ 0", g.Every)
	}
	if pt, _ := sd.SchedulerConfig["prediction_type"].(string); pt != "" && pt != "epsilon" {
		return nil, fmt.Errorf("pipeline: loss guidance needs a noise-predicting (epsilon) model, scheduler config says %q", pt)
	}
	scaling := sd.ScalingFactor()
	exec, err := model.NewExec(sd.Backend, sd.VAE.Vars.Store, func(_ *model.Scope, x, eps, a, b *G.Node) (*G.Node, *G.Node) {
		x0 := G.Div(G.Sub(x, G.Mul(b, eps)), a)
		img := G.AddScalar(G.MulScalar(sd.VAE.DecodeGraph(G.MulScalar(x0, 1/scaling)), 0.5), 0.5)
		loss := g.Loss(img)
		if loss.Rank() != 0 {
			loss = G.ReduceAllSum(loss)
		}
		loss = G.ConvertDType(loss, dtypes.Float32)
		return loss, G.Gradient(loss, x)[0]
	})
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	return &guideExec{exec: exec, scale: g.Scale, every: max(g.Every, 1)}, nil
}

// run returns the loss and its gradient with respect to the latents x.
func (e *guideExec) run(x, eps []float32, shape []int, a, b float64) (loss float64, grad []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	outs, err := e.exec.Exec(
		tensors.FromFlatDataAndDimensions(x, shape...),
		tensors.FromFlatDataAndDimensions(eps, shape...),
		tensors.FromScalar(float32(a)), tensors.FromScalar(float32(b)))
	if err != nil {
		return 0, nil, err
	}
	l, _ := weights.Float32s(outs[0])
	grad, _ = weights.Float32s(outs[1])
	return float64(l[0]), grad, nil
}
