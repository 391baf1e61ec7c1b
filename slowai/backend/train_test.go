package backend

import (
	"math/rand/v2"
	"testing"

	. "github.com/gomlx/gomlx/core/graph"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/layers"
	"github.com/gomlx/gomlx/ml/layers/activation"
	"github.com/gomlx/gomlx/ml/layers/norm"
	"github.com/gomlx/gomlx/ml/model"
	"github.com/gomlx/gomlx/ml/train"
	"github.com/gomlx/gomlx/ml/train/loss"
	"github.com/gomlx/gomlx/ml/train/optimizer"
)

// TestTrainTinyCNN trains, with GoMLX's own layers, trainer and optimizer, a small network whose backward
// pass needs most of what this package supplies (the strided convolution's input-dilated gradient, batch
// norm, padded max pooling's gradient, layer norm, dropout's random numbers), and checks that the loss on
// an easy two-class problem falls.
func TestTrainTinyCNN(t *testing.T) {
	const batch, side, steps = 16, 8, 40
	rng := rand.New(rand.NewPCG(41, 42))
	images := make([]float32, batch*side*side)
	labels := make([]int32, batch)
	for b := range batch {
		labels[b] = int32(b % 2)
		for y := range side {
			for x := range side {
				v := rng.Float32() * 0.3
				if (labels[b] == 0) == (x < side/2) { // class 0 bright on the left, class 1 on the right.
					v += 0.7
				}
				images[(b*side+y)*side+x] = v
			}
		}
	}
	modelFn := func(scope *model.Scope, x *Node) *Node {
		x = layers.Convolution(scope.In("conv"), x).Filters(6).KernelSize(3).Strides(2).PadSame().Done()
		x = norm.BatchNorm(scope.In("bn"), x, -1).Done()
		x = activation.Relu(x)
		x = MaxPool(x).Window(3).Strides(2).PadSame().Done()
		x = Reshape(x, batch, -1)
		x = layers.DropoutStatic(scope, x, 0.1)
		x = layers.Dense(scope.In("hidden"), x, true, 8)
		x = norm.LayerNorm(scope.In("ln"), x, -1).Done()
		return layers.Dense(scope.In("out"), activation.Relu(x), true, 2)
	}
	forEngines(t, false, func(t *testing.T, e engine) {
		store := model.NewStore()
		store.SetParam(model.ParamInitialSeed, int64(7))
		trainer := train.NewTrainer(e.be, store, modelFn, loss.SparseCategoricalCrossEntropyLogits,
			optimizer.Adam().LearningRate(0.01).Done(), nil, nil)
		var first, last float32
		for step := range steps {
			metrics, err := trainer.TrainStep(train.Batch{
				Inputs: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(append([]float32(nil), images...),
					batch, side, side, 1)},
				Labels: []*tensors.Tensor{tensors.FromFlatDataAndDimensions(append([]int32(nil), labels...), batch, 1)},
			})
			if err != nil {
				t.Fatalf("step %d: %+v", step, err)
			}
			last = metrics[0].Value().(float32)
			if step == 0 {
				first = last
			}
		}
		t.Logf("%s: loss %.4f -> %.4f in %d steps", e.name, first, last, steps)
		if !(last < first/3) {
			t.Errorf("%s: loss went from %.4f to %.4f in %d steps; want it below a third", e.name, first, last, steps)
		}
	})
}
