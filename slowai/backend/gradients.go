package backend

import (
	"fmt"
	"reflect"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/graph"
)

// GoMLX v0.28.2 defines no gradient for several ops that models use directly: Pad (explicit padding, as
// opposed to a convolution's), Clamp (graph.Clip), Rsqrt and Expm1 (hand-written norms and activations),
// Reverse (second derivatives of convolutions) and the piecewise-constant Sign, Round, Floor and Ceil.
// Importing this package registers them, leaving alone any that a later GoMLX defines itself.
func init() {
	vjps := map[graph.NodeType]graph.VJP{
		graph.NodeTypePad:   padVJP,
		graph.NodeTypeClamp: clampVJP,
		graph.NodeTypeRsqrt: single(func(n, v *graph.Node) *graph.Node {
			return graph.Mul(v, graph.MulScalar(graph.Mul(n, graph.Square(n)), -0.5))
		}),
		graph.NodeTypeExpm1:   single(func(n, v *graph.Node) *graph.Node { return graph.Mul(v, graph.OnePlus(n)) }),
		graph.NodeTypeReverse: single(func(n, v *graph.Node) *graph.Node { return graph.Reverse(v, intsOf(n, "axes")...) }),
		graph.NodeTypeSign:    zeroVJP,
		graph.NodeTypeRound:   zeroVJP,
		graph.NodeTypeFloor:   zeroVJP,
		graph.NodeTypeCeil:    zeroVJP,
	}
	for t, vjp := range vjps {
		if _, ok := graph.VJPRegistration[t]; !ok {
			graph.VJPRegistration[t] = vjp
		}
	}
}

// single adapts the gradient of a one-input, one-output op, given the node and the incoming adjoint v.
func single(fn func(node, v *graph.Node) *graph.Node) graph.VJP {
	return func(node *graph.Node, vjps []*graph.Node, _ shapes.Shape) []*graph.Node {
		return []*graph.Node{fn(node, vjps[0])}
	}
}

// zeroVJP is the gradient of a piecewise-constant op: zero wherever it is defined.
func zeroVJP(node *graph.Node, _ []*graph.Node, _ shapes.Shape) []*graph.Node {
	return []*graph.Node{graph.ZerosLike(node.Inputs()[0])}
}

// padVJP is the gradient of Pad: the output elements that came from x, gathered back into x's shape (undo
// the edges, then take every (interior+1)-th element); the fill value receives the sum of all the others.
func padVJP(node *graph.Node, vjps []*graph.Node, _ shapes.Shape) []*graph.Node {
	v := vjps[0]
	x := node.Inputs()[0]
	cfg := padConfigOf(node)
	rank := x.Rank()
	undo := make([]compute.PadAxis, rank)
	specs := make([]graph.SliceAxisSpec, rank)
	for i := range rank {
		specs[i] = graph.AxisRange()
		if i < len(cfg) {
			undo[i] = compute.PadAxis{Start: -cfg[i].Start, End: -cfg[i].End}
			specs[i] = specs[i].Stride(cfg[i].Interior + 1)
		}
	}
	gx := graph.Slice(graph.Pad(v, graph.ScalarZero(v.Graph(), v.DType()), undo...), specs...)
	gFill := graph.Sub(graph.ReduceAllSum(v), graph.ReduceAllSum(gx))
	return []*graph.Node{gx, gFill}
}

// clampVJP sends the adjoint to x where lo <= x <= hi, and to the bound that clipped it elsewhere (summed
// over x's shape when the bound is a scalar).
func clampVJP(node *graph.Node, vjps []*graph.Node, _ shapes.Shape) []*graph.Node {
	v := vjps[0]
	lo, x, hi := node.Inputs()[0], node.Inputs()[1], node.Inputs()[2]
	zeros := graph.ZerosLike(v)
	below := graph.LessThan(x, graph.BroadcastToShape(lo, x.Shape()))
	above := graph.GreaterThan(x, graph.BroadcastToShape(hi, x.Shape()))
	toBound := func(bound, mask *graph.Node) *graph.Node {
		g := graph.Where(mask, v, zeros)
		if bound.Rank() == 0 && x.Rank() > 0 {
			g = graph.ReduceAllSum(g)
		}
		return g
	}
	gx := graph.Where(graph.LogicalOr(below, above), zeros, v)
	return []*graph.Node{toBound(lo, below), gx, toBound(hi, above)}
}

// padConfigOf reads the PadAxis list of a Pad node, which GoMLX keeps in an unexported field.
func padConfigOf(node *graph.Node) []compute.PadAxis {
	ac := paramOf(node, "axesConfig", reflect.Slice)
	cfg := make([]compute.PadAxis, ac.Len())
	for i := range cfg {
		e := ac.Index(i)
		cfg[i] = compute.PadAxis{
			Start:    int(e.FieldByName("Start").Int()),
			End:      int(e.FieldByName("End").Int()),
			Interior: int(e.FieldByName("Interior").Int()),
		}
	}
	return cfg
}

// intsOf reads an []int parameter of node.
func intsOf(node *graph.Node, field string) []int {
	s := paramOf(node, field, reflect.Slice)
	ints := make([]int, s.Len())
	for i := range ints {
		ints[i] = int(s.Index(i).Int())
	}
	return ints
}

// paramOf returns the named field of a node's (unexported) parameters, as written by GoMLX v0.28.2's
// generated nodeInputs* structs. It panics, naming the node, if the layout differs.
func paramOf(node *graph.Node, field string, kind reflect.Kind) reflect.Value {
	fail := func(why string) {
		panic(fmt.Sprintf("slowai/backend: gradient of %s: cannot read its parameter %q: %s (written for the "+
			"node layout of GoMLX v0.28.2)", node, field, why))
	}
	in := reflect.ValueOf(node).Elem().FieldByName("inputs")
	if !in.IsValid() || in.Kind() != reflect.Interface || in.IsNil() {
		fail("the node has no inputs field")
	}
	params := in.Elem()
	if params.Kind() == reflect.Pointer {
		params = params.Elem()
	}
	if params.Kind() != reflect.Struct {
		fail("its inputs are not a struct")
	}
	v := params.FieldByName(field)
	if !v.IsValid() || v.Kind() != kind {
		fail("no such field of kind " + kind.String())
	}
	return v
}
