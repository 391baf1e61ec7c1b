package module

import (
	"fmt"

	"github.com/gomlx/compute/shapes"
	. "github.com/gomlx/gomlx/core/graph"
)

// Noise is a training graph's source of random numbers (dropout's masks, augmentation's fill): a
// random-number-generator state the step takes as an input, drawn on the host from the Learner's
// generator, so runs are reproducible and resume exactly. Every draw advances the state, so two
// draws in one graph differ.
type Noise struct{ state *Node }

// NewNoise starts a source from a state node shaped graph.RNGStateShape.
func NewNoise(state *Node) *Noise {
	if state == nil || !state.Shape().Equal(RNGStateShape) {
		panic(fmt.Sprintf("module.NewNoise: want an RNG state shaped %s", RNGStateShape))
	}
	return &Noise{state: state}
}

// Uniform draws values in [0, 1) shaped like shape.
func (n *Noise) Uniform(shape shapes.Shape) *Node {
	var u *Node
	n.state, u = RandomUniform(n.state, shape)
	return u
}

// Normal draws standard normal values shaped like shape.
func (n *Noise) Normal(shape shapes.Shape) *Node {
	var z *Node
	n.state, z = RandomNormal(n.state, shape)
	return z
}

// Dropout zeroes each value with probability P while training and scales the survivors by
// 1/(1-P), so every value keeps its expected size; in evaluation it passes x through. The network
// cannot lean on any single activation, since any may be missing.
type Dropout struct{ P float64 }

// Apply drops values of x in a training graph, whose Vars must carry the step's Noise.
func (d Dropout) Apply(v Vars, x *Node) *Node {
	if !v.Train || d.P == 0 {
		return x
	}
	if !(d.P > 0 && d.P < 1) {
		panic(fmt.Sprintf("module.Dropout: P = %g, want in [0, 1)", d.P))
	}
	if v.Noise == nil {
		panic("module.Dropout: a training graph whose Vars have no Noise (build the step with augment.Model)")
	}
	keep := GreaterOrEqual(v.Noise.Uniform(x.Shape()), Scalar(x.Graph(), x.DType(), d.P))
	return Where(keep, MulScalar(x, 1/(1-d.P)), ZerosLike(x))
}
