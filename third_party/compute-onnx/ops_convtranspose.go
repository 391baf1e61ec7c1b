package onnxbackend

import (
	"fmt"

	"github.com/gomlx/compute"
	onnx "github.com/gomlx/compute-onnx/internal/protos"
	"github.com/gomlx/compute/shapes"
	"github.com/pkg/errors"
)

// ConvTranspose emits ONNX's ConvTranspose (group 1, kernel dilation 1) on x [N, C, spatial...] and
// w [C, O, kernel spatial...]: out[n, o, y] = sum over c, i, k with y = i*stride + k - padsBegin of
// x[n, c, i] * w[c, o, k], of shape [N, O, (in-1)*stride + K - padsBegin - padsEnd].
//
// Not part of compute.Function (added by this fork): a convolution of an input dilated by the stride is
// this operator on the undilated input, with a fraction of the multiply-adds of ONNX's Conv on the input
// with zeros inserted.
func (f *Function) ConvTranspose(x, w compute.Value, strides, padsBegin, padsEnd []int) (compute.Value, error) {
	xn, ok1 := x.(*Node)
	wn, ok2 := w.(*Node)
	if !ok1 || !ok2 {
		return nil, errors.New("ConvTranspose: inputs must be valid onnxruntime nodes")
	}
	xs, ws := xn.shape, wn.shape
	spatial := xs.Rank() - 2
	if spatial < 1 || ws.Rank() != xs.Rank() || ws.DType != xs.DType || !xs.DType.IsFloat() {
		return nil, errors.Errorf("ConvTranspose: want float x [N, C, spatial...] and w [C, O, spatial...] of "+
			"one dtype, got x %s and w %s", xs, ws)
	}
	if ws.Dimensions[0] != xs.Dimensions[1] {
		return nil, errors.Errorf("ConvTranspose: w %s has %d input channels, x %s has %d",
			ws, ws.Dimensions[0], xs, xs.Dimensions[1])
	}
	if len(strides) != spatial || len(padsBegin) != spatial || len(padsEnd) != spatial {
		return nil, errors.Errorf("ConvTranspose: want %d strides and pads, got %d, %d and %d",
			spatial, len(strides), len(padsBegin), len(padsEnd))
	}
	dims := []int{xs.Dimensions[0], ws.Dimensions[1]}
	pads := make([]int64, 2*spatial)
	st := make([]int64, spatial)
	for i := range spatial {
		if strides[i] < 1 || padsBegin[i] < 0 || padsEnd[i] < 0 {
			return nil, errors.Errorf("ConvTranspose: want strides >= 1 and pads >= 0, got %v, %v and %v",
				strides, padsBegin, padsEnd)
		}
		n := (xs.Dimensions[2+i]-1)*strides[i] + ws.Dimensions[2+i] - padsBegin[i] - padsEnd[i]
		if n < 1 {
			return nil, errors.Errorf("ConvTranspose: spatial axis %d of the output would be %d long", i, n)
		}
		dims = append(dims, n)
		pads[i], pads[spatial+i], st[i] = int64(padsBegin[i]), int64(padsEnd[i]), int64(strides[i])
	}
	f.nodeCount++
	node := &Node{
		name:   fmt.Sprintf("node_%d", f.nodeCount),
		opType: "ConvTranspose",
		inputs: []*Node{xn, wn},
		shape:  shapes.Make(xs.DType, dims...),
		attributes: []*onnx.AttributeProto{
			{Name: "pads", Type: onnx.AttributeProto_INTS, Ints: pads},
			{Name: "strides", Type: onnx.AttributeProto_INTS, Ints: st},
		},
	}
	f.nodes = append(f.nodes, node)
	return node, nil
}
