//go:build cgo

package backend

import (
	"reflect"
	"slices"
	"unsafe"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
	"github.com/gomlx/compute/shapes"
)

// broadcastingOps are the ONNX operators that broadcast their inputs numpy-style, so that an Expand
// feeding them can be skipped.
var broadcastingOps = map[string]bool{
	"Add": true, "Sub": true, "Mul": true, "Div": true, "Pow": true, "Max": true, "Min": true,
	"Equal": true, "Less": true, "Greater": true, "LessOrEqual": true, "GreaterOrEqual": true,
	"And": true, "Or": true, "Xor": true, "Where": true,
}

// simplifyONNX rewires an ONNX Runtime builder's main function around nodes that only copy memory, and
// returns how many uses it rewired (the skipped nodes are left for pruneDeadONNX to remove):
//
//   - Transposes with the identity permutation (compute-onnx emits them, e.g. around every Gather) and
//     Expands to the shape they already have: ONNX Runtime copies the whole tensor for each.
//   - Expands feeding an operator that broadcasts by itself (Add, Mul, Where, ...) when another input of
//     that operator already has the full shape: GoMLX broadcasts explicitly (GroupNorm's statistics, a
//     bias over an image), ONNX Runtime materializes the broadcast tensor, and the operator then reads it
//     back; broadcasting inside the operator reads the small tensor instead.
//
// Graph outputs are never rewired. Like pruneDeadONNX it works on compute-onnx's unexported fields by
// reflection and leaves the graph alone (ok false) if their layout is not the expected one.
func simplifyONNX(inner compute.Builder) (rewired int, ok bool) {
	ob, isONNX := inner.(*onnxbackend.Builder)
	if !isONNX || ob == nil {
		return 0, false
	}
	defer func() {
		if recover() != nil {
			rewired, ok = 0, false
		}
	}()
	nodes, _, found := onnxMainFunction(ob)
	if !found {
		return 0, false
	}
	field := func(node reflect.Value, name string) reflect.Value { return writable(node.Elem().FieldByName(name)) }
	opType := func(node reflect.Value) string { return field(node, "opType").String() }
	shapeOf := func(node reflect.Value) shapes.Shape { return field(node, "shape").Interface().(shapes.Shape) }

	// copyOnly returns the node's data input if the node only copies it unchanged.
	copyOnly := func(node reflect.Value) (reflect.Value, bool) {
		inputs := field(node, "inputs")
		if inputs.Len() == 0 {
			return reflect.Value{}, false
		}
		in := inputs.Index(0)
		switch opType(node) {
		case "Transpose":
			for _, attr := range attributes(field(node, "attributes")) {
				if attr.name == "perm" {
					for i, p := range attr.ints {
						if int64(i) != p {
							return reflect.Value{}, false
						}
					}
					return in, true
				}
			}
		case "Expand":
			if shapeOf(in).Equal(shapeOf(node)) {
				return in, true
			}
		}
		return reflect.Value{}, false
	}

	for i := range nodes.Len() {
		node := nodes.Index(i)
		inputs := field(node, "inputs")
		for j := range inputs.Len() {
			for {
				src, skip := copyOnly(inputs.Index(j))
				if !skip {
					break
				}
				inputs.Index(j).Set(src)
				rewired++
			}
		}
		if !broadcastingOps[opType(node)] {
			continue
		}
		full := shapeOf(node).Dimensions
		for j := range inputs.Len() {
			in := inputs.Index(j)
			if opType(in) != "Expand" {
				continue
			}
			// Another input must keep the output at its full shape.
			others := false
			for k := range inputs.Len() {
				if k != j && slices.Equal(shapeOf(inputs.Index(k)).Dimensions, full) && opType(inputs.Index(k)) != "Expand" {
					others = true
				}
			}
			src := field(in, "inputs").Index(0)
			if others && shapeOf(src).Rank() == len(full) {
				inputs.Index(j).Set(src)
				rewired++
			}
		}
	}
	return rewired, true
}

// writable returns v (reached through unexported fields) as a settable value at the same address.
func writable(v reflect.Value) reflect.Value {
	return reflect.NewAt(v.Type(), unsafe.Pointer(v.UnsafeAddr())).Elem()
}

type onnxAttribute struct {
	name string
	ints []int64
}

// attributes reads the name and integer list of each *onnx.AttributeProto in a slice.
func attributes(list reflect.Value) []onnxAttribute {
	out := make([]onnxAttribute, list.Len())
	for i := range out {
		a := list.Index(i).Elem()
		out[i].name = a.FieldByName("Name").String()
		out[i].ints = a.FieldByName("Ints").Interface().([]int64)
	}
	return out
}
