package module

import (
	"fmt"

	. "github.com/gomlx/gomlx/core/graph"
)

// Layer is anything that maps a graph value to another with parameters from Vars.
type Layer interface {
	Apply(v Vars, x *Node) *Node
}

// Fn is a layer without parameters (an activation, a reshape).
type Fn func(x *Node) *Node

// Apply calls f.
func (f Fn) Apply(_ Vars, x *Node) *Node { return f(x) }

// Flatten keeps the batch axis and folds the rest into one: [B, C, H, W] -> [B, C·H·W].
var Flatten Fn = func(x *Node) *Node { return Reshape(x, x.Shape().Dimensions[0], -1) }

// Sequential applies its layers in order, like torch.nn.Sequential, and taps each layer's output
// under the layer's name so that hooks (activation statistics) see every stage.
type Sequential struct {
	Names  []string
	Layers []Layer
}

// Add appends a layer; names must be unique (they label taps and plots).
func (s *Sequential) Add(name string, l Layer) *Sequential {
	for _, n := range s.Names {
		if n == name {
			panic(fmt.Sprintf("module: Sequential already has a layer %q", name))
		}
	}
	s.Names = append(s.Names, name)
	s.Layers = append(s.Layers, l)
	return s
}

// Apply runs x through every layer.
func (s *Sequential) Apply(v Vars, x *Node) *Node {
	for i, l := range s.Layers {
		x = l.Apply(v, x)
		v.Tap(s.Names[i], x)
	}
	return x
}
