//go:build cgo

package backend

import (
	"reflect"

	"github.com/gomlx/compute"
	onnxbackend "github.com/gomlx/compute-onnx"
)

// pruneDeadONNX removes from an ONNX Runtime builder's main function the nodes that no output depends on,
// and returns how many it removed.
//
// GoMLX builds gradients one node at a time and leaves behind the ones nobody asked for (the gradient with
// respect to the input batch of every first layer, for instance: a whole matrix product or convolution),
// and ONNX Runtime runs every node it is given. The engine keeps its node list in unexported fields, read
// and rewritten here by reflection; if their layout is not the expected one nothing is pruned (ok false).
func pruneDeadONNX(inner compute.Builder) (removed int, ok bool) {
	ob, isONNX := inner.(*onnxbackend.Builder)
	if !isONNX || ob == nil {
		return 0, false
	}
	defer func() {
		if recover() != nil { // an unexpected layout: leave the graph as it is.
			removed, ok = 0, false
		}
	}()
	nodes, returns, found := onnxMainFunction(ob)
	if !found {
		return 0, false
	}

	field := func(node reflect.Value, name string) reflect.Value { return node.Elem().FieldByName(name) }
	outputsOf := func(node reflect.Value) []string {
		if names := field(node, "outputNames"); names.Len() > 0 {
			out := make([]string, names.Len())
			for i := range out {
				out[i] = names.Index(i).String()
			}
			return out
		}
		return []string{field(node, "name").String()}
	}

	// Nodes are found by output name: some ops refer to a second output through a stand-in node that
	// carries only that output's name.
	producer := map[string]int{}
	for i := range nodes.Len() {
		for _, name := range outputsOf(nodes.Index(i)) {
			producer[name] = i
		}
	}
	live := make([]bool, nodes.Len())
	var stack []int
	mark := func(name string) {
		if i, found := producer[name]; found && !live[i] {
			live[i] = true
			stack = append(stack, i)
		}
	}
	for i := range returns.Len() {
		mark(field(returns.Index(i), "name").String())
	}
	for i := range nodes.Len() {
		if field(nodes.Index(i), "opType").String() == "Parameter" {
			mark(outputsOf(nodes.Index(i))[0])
		}
	}
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		inputs := field(nodes.Index(i), "inputs")
		for j := range inputs.Len() {
			mark(inputs.Index(j).Elem().FieldByName("name").String())
		}
	}

	kept := reflect.MakeSlice(nodes.Type(), 0, nodes.Len())
	for i := range nodes.Len() {
		if live[i] {
			kept = reflect.Append(kept, nodes.Index(i))
		}
	}
	removed = nodes.Len() - kept.Len()
	if removed > 0 {
		nodes.Set(kept)
	}
	return removed, true
}

// onnxMainFunction returns, settable, the node list and the returned nodes of an ONNX Runtime builder's
// main function (unexported fields of compute-onnx), or found false if they are not where expected.
func onnxMainFunction(ob *onnxbackend.Builder) (nodes, returns reflect.Value, found bool) {
	fn := reflect.ValueOf(ob).Elem().FieldByName("mainFn")
	if fn.Kind() != reflect.Pointer || fn.IsNil() {
		return nodes, returns, false
	}
	fn = fn.Elem()
	nodes, returns = fn.FieldByName("nodes"), fn.FieldByName("returns")
	if nodes.Kind() != reflect.Slice || returns.Kind() != reflect.Slice {
		return nodes, returns, false
	}
	return writable(nodes), writable(returns), true
}
