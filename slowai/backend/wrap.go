package backend

import (
	"fmt"

	"github.com/gomlx/compute"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
)

// fixes says which ops of an engine the wrapper replaces by compositions, beyond the ops that the engine
// reports as not implemented (those are always composed).
//
// Ops that build fine but crash or compute wrong values at run time must be listed here, since nothing else
// tells them apart.
type fixes struct {
	// padNegative composes Pad whenever a negative amount is asked for: the pure-Go engine of compute
	// v0.1.3 slices out of bounds on negative padding and crashes the process from a worker goroutine.
	padNegative bool

	// windowPads applies the padding of window reductions to their input before the engine sees them, and
	// composes float64 and window-dilated sums: ONNX Runtime sums windows with AveragePool times the window
	// size, which leaves padding out of the count, and its MaxPool rejects padding as large as the window.
	windowPads bool

	// selectScatterOverlap composes SelectAndScatterMax (the gradient of MaxPool) when windows overlap or
	// the dtype is not float32: ONNX Runtime's engine scatters the values with ScatterElements without
	// reduction, so of two windows selecting the same element only one contributes.
	selectScatterOverlap bool

	// scatterInt64 converts the indices of scatters to int64: ONNX's ScatterND rejects int32 indices,
	// which GoMLX's gradient of Gather produces.
	scatterInt64 bool

	// dotAsMatMul rewrites every DotGeneral as a (batched) MatMul of transposed operands: ONNX Runtime's
	// engine turns the other layouts into a slower Einsum.
	dotAsMatMul bool

	// scalarReshape computes a reshape of a one-element tensor to a scalar as a sum over all its axes:
	// ONNX Runtime's engine fails at run time when such a reshape is an output of the computation.
	scalarReshape bool

	// pruneDead removes, before compiling, the nodes no output depends on: ONNX Runtime runs them all,
	// and GoMLX's gradients leave some behind (see pruneDeadONNX).
	pruneDead bool

	// simplify skips, before compiling, the nodes that only copy memory: identity transposes, and
	// broadcasts that the consuming operator can do itself (see simplifyONNX).
	simplify bool

	// convAsDot computes every convolution as a matrix product of gathered windows: the pure-Go engine's
	// convolution loops run 5-10x slower than its matrix product.
	convAsDot bool

	// convWideKernelAsDot does the same for convolutions with more kernel than output positions (the
	// gradient with respect to a kernel), which ONNX Runtime runs as a poorly shaped product.
	convWideKernelAsDot bool

	// convWideKernelGathered computes those wide-kernel convolutions that have no channel or batch groups
	// with one Gather of whole rows instead (convGathered): ONNX Runtime copies the many short rows of
	// convAsDot's slices slowly, and then copies them again to concatenate them.
	convWideKernelGathered bool

	// dilatedConvAsTranspose computes a convolution of an input dilated by d (GoMLX's input gradient of a
	// stride-d convolution) as ONNX's ConvTranspose of the undilated input (convTransposed): ONNX's Conv
	// cannot dilate its input, and on the input with zeros inserted it does d^2 times the multiply-adds.
	dilatedConvAsTranspose bool

	// innerRepeatAsConcat builds broadcasts that repeat the innermost axis a few times by concatenation
	// (see BroadcastInDim): ONNX Runtime's Expand copies them element by element.
	innerRepeatAsConcat bool

	// copyParamOutputs returns a computed copy of any parameter that is also an output: ONNX Runtime's
	// engine hands back garbage (zeros) for an output that is a graph input passed through unchanged,
	// which is what e.g. Dropout in evaluation mode does.
	copyParamOutputs bool

	// composeAll forces every supplied op to use its composition, even where the engine has the op.
	// Tests use it to check the compositions on an engine whose own ops serve as the reference.
	composeAll bool
}

// suppliedOps are the ops the wrapper can build out of others, advertised in Capabilities.
var suppliedOps = []compute.OpType{
	compute.OpTypePad,
	compute.OpTypeConvGeneral,
	compute.OpTypeReduceWindow,
	compute.OpTypeRsqrt,
	compute.OpTypeExpm1,
	compute.OpTypeClamp,
	compute.OpTypeIsNaN,
	compute.OpTypeIsFinite,
	compute.OpTypeSelectAndScatterMin,
	compute.OpTypeBatchNormForInference,
	compute.OpTypeBatchNormForTraining,
	compute.OpTypeBatchNormGradient,
	compute.OpTypeOptimizationBarrier,
	compute.OpTypeSelectAndScatterMax,
	compute.OpTypeDotGeneral,
	compute.OpTypeReshape,
}

// Backend wraps an engine's compute.Backend so that ops missing or broken in it are built from ops that work.
//
// Everything else is passed through unchanged. Buffers are wrapped too, so that tensors produced by an
// execution report this Backend as their owner and can be fed back into it (GoMLX refuses to mix a tensor
// with a backend instance other than the one that holds it).
type Backend struct {
	inner  compute.Backend
	engine string // "go", "onnx" or "xla": the name it was asked for.
	fix    fixes
}

var (
	_ compute.Backend  = (*Backend)(nil)
	_ compute.Builder  = (*builder)(nil)
	_ compute.Function = (*function)(nil)
	_ compute.Buffer   = (*buffer)(nil)
)

// wrap returns inner wrapped with the given fixes.
func wrap(inner compute.Backend, engine string, fix fixes) *Backend {
	keepONNXModels(inner)
	return &Backend{inner: inner, engine: engine, fix: fix}
}

// Unwrap returns the engine's own backend, without the supplied ops.
func (b *Backend) Unwrap() compute.Backend { return b.inner }

// Engine returns the short name this backend was created with: "go", "onnx" or "xla".
func (b *Backend) Engine() string { return b.engine }

// Name implements compute.Backend: the engine's name.
func (b *Backend) Name() string { return b.inner.Name() }

// String implements compute.Backend.
func (b *Backend) String() string { return b.Name() }

// Description implements compute.Backend.
func (b *Backend) Description() string {
	return b.inner.Description() + " (slowai: missing ops supplied by compositions)"
}

// NumDevices implements compute.Backend.
func (b *Backend) NumDevices() int { return b.inner.NumDevices() }

// DeviceDescription implements compute.Backend.
func (b *Backend) DeviceDescription(d compute.DeviceNum) string { return b.inner.DeviceDescription(d) }

// Capabilities implements compute.Backend: the engine's capabilities plus the supplied ops.
func (b *Backend) Capabilities() compute.Capabilities {
	c := b.inner.Capabilities().Clone()
	if c.Operations == nil {
		c.Operations = map[compute.OpType]bool{}
	}
	for _, op := range suppliedOps {
		c.Operations[op] = true
	}
	return c
}

// Builder implements compute.Backend.
func (b *Backend) Builder(name string) compute.Builder {
	return &builder{inner: b.inner.Builder(name), be: b, funcs: map[compute.Function]*function{}}
}

// BufferFromFlatData implements compute.DataInterface.
func (b *Backend) BufferFromFlatData(d compute.DeviceNum, flat any, shape shapes.Shape) (compute.Buffer, error) {
	buf, err := b.inner.BufferFromFlatData(d, flat, shape)
	return b.wrapBuffer(buf), err
}

// HasSharedBuffers implements compute.DataInterface.
func (b *Backend) HasSharedBuffers() bool { return b.inner.HasSharedBuffers() }

// NewSharedBuffer implements compute.DataInterface.
func (b *Backend) NewSharedBuffer(d compute.DeviceNum, shape shapes.Shape) (compute.Buffer, any, error) {
	buf, flat, err := b.inner.NewSharedBuffer(d, shape)
	return b.wrapBuffer(buf), flat, err
}

// Finalize implements compute.Backend.
func (b *Backend) Finalize() { b.inner.Finalize() }

// IsFinalized implements compute.Backend.
func (b *Backend) IsFinalized() bool { return b.inner.IsFinalized() }

func (b *Backend) wrapBuffer(buf compute.Buffer) compute.Buffer {
	if buf == nil {
		return nil
	}
	if w, ok := buf.(*buffer); ok && w.be == b {
		return w
	}
	return &buffer{Buffer: buf, be: b}
}

// buffer is an engine buffer that reports the wrapping Backend as its owner.
type buffer struct {
	compute.Buffer
	be *Backend
}

func (b *buffer) Backend() compute.Backend { return b.be }

func (b *buffer) CopyToDevice(d compute.DeviceNum) (compute.Buffer, error) {
	nb, err := b.Buffer.CopyToDevice(d)
	return b.be.wrapBuffer(nb), err
}

// unwrapBuffer returns the engine's buffer inside buf.
func unwrapBuffer(buf compute.Buffer) compute.Buffer {
	if w, ok := buf.(*buffer); ok {
		return w.Buffer
	}
	return buf
}

// builder wraps an engine's Builder so that its functions are wrapped.
type builder struct {
	inner compute.Builder
	be    *Backend
	funcs map[compute.Function]*function // engine function -> its wrapper, so identities are stable.
}

func (b *builder) Name() string { return b.inner.Name() }

func (b *builder) Main() compute.Function { return b.wrapFunction(b.inner.Main(), nil) }

func (b *builder) NewFunction(name string) (compute.Function, error) {
	fn, err := b.inner.NewFunction(name)
	if err != nil {
		return nil, err
	}
	return b.wrapFunction(fn, nil), nil
}

func (b *builder) OpShape(op compute.Value) (shapes.Shape, error) { return b.inner.OpShape(op) }

func (b *builder) DistributedSPMD(n int) error { return b.inner.DistributedSPMD(n) }

func (b *builder) DistributedAutoSharding(meshes ...compute.Mesh) error {
	return b.inner.DistributedAutoSharding(meshes...)
}

func (b *builder) DeviceAssignment(devices ...compute.DeviceNum) error {
	return b.inner.DeviceAssignment(devices...)
}

func (b *builder) Compile() (compute.Executable, error) {
	if b.be.fix.simplify {
		simplifyONNX(b.inner)
	}
	if b.be.fix.pruneDead {
		pruneDeadONNX(b.inner)
	}
	exec, err := b.inner.Compile()
	if err != nil {
		return nil, err
	}
	dumpONNX(b.be.inner, exec, b.inner.Name())
	return &executable{Executable: exec, be: b.be}, nil
}

func (b *builder) wrapFunction(fn compute.Function, parent *function) *function {
	if fn == nil {
		return nil
	}
	if w, ok := b.funcs[fn]; ok {
		return w
	}
	w := &function{Function: fn, b: b, parent: parent}
	b.funcs[fn] = w
	return w
}

// executable unwraps input buffers and wraps output buffers.
type executable struct {
	compute.Executable
	be *Backend
}

func (e *executable) Execute(inputs []compute.Buffer, donate []bool, d compute.DeviceNum) ([]compute.Buffer, error) {
	in := make([]compute.Buffer, len(inputs))
	for i, buf := range inputs {
		in[i] = unwrapBuffer(buf)
	}
	out, err := e.Executable.Execute(in, donate, d)
	for i := range out {
		out[i] = e.be.wrapBuffer(out[i])
	}
	return out, err
}

// function wraps an engine Function: ops listed in suppliedOps are overridden in the files next to this
// one; every other op is the engine's own.
type function struct {
	compute.Function
	b      *builder
	parent *function
	params map[compute.Value]bool // parameters created through this function, for copyParamOutputs
}

func (f *function) Parameter(name string, shape shapes.Shape, sharding *compute.ShardingSpec) (compute.Value, error) {
	v, err := f.Function.Parameter(name, shape, sharding)
	if err == nil && f.b.be.fix.copyParamOutputs {
		if f.params == nil {
			f.params = map[compute.Value]bool{}
		}
		f.params[v] = true
	}
	return v, err
}

func (f *function) Return(outputs []compute.Value, shardings []*compute.ShardingSpec) error {
	if f.params != nil {
		outputs = append([]compute.Value(nil), outputs...)
		for i, v := range outputs {
			if !f.params[v] {
				continue
			}
			// x + 0 is computed, so the engine writes a real output buffer.
			sum, err := compose("Return", func() compute.Value {
				s := f.shapeOf(v)
				return must(f.Function.Add(v, f.fill(f.scalar(s.DType, 0), s)))
			})
			if err != nil {
				return err
			}
			outputs[i] = sum
		}
	}
	return f.Function.Return(outputs, shardings)
}

func (f *function) Builder() compute.Builder { return f.b }

func (f *function) Parent() compute.Function {
	if f.parent == nil {
		return nil
	}
	return f.parent
}

func (f *function) Closure() (compute.Function, error) {
	c, err := f.Function.Closure()
	if err != nil {
		return nil, err
	}
	return f.b.wrapFunction(c, f), nil
}

// unwrapFunction returns the engine function inside fn.
func unwrapFunction(fn compute.Function) compute.Function {
	if w, ok := fn.(*function); ok {
		return w.Function
	}
	return fn
}

func (f *function) Call(target compute.Function, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Call(unwrapFunction(target), inputs...)
}

func (f *function) Sort(cmp compute.Function, axis int, stable bool, inputs ...compute.Value) ([]compute.Value, error) {
	return f.Function.Sort(unwrapFunction(cmp), axis, stable, inputs...)
}

func (f *function) While(cond, body compute.Function, state ...compute.Value) ([]compute.Value, error) {
	return f.Function.While(unwrapFunction(cond), unwrapFunction(body), state...)
}

func (f *function) If(pred compute.Value, onTrue, onFalse compute.Function) ([]compute.Value, error) {
	return f.Function.If(pred, unwrapFunction(onTrue), unwrapFunction(onFalse))
}

// compose runs body, turning the aborts of must and check into an error that names the op being supplied.
func compose(op string, body func() compute.Value) (compute.Value, error) {
	vs, err := composeMany(op, func() []compute.Value { return []compute.Value{body()} })
	if err != nil {
		return nil, err
	}
	return vs[0], nil
}

// composeMany is compose for ops with several outputs.
func composeMany(op string, body func() []compute.Value) (vs []compute.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			ce, ok := r.(composeError)
			if !ok {
				panic(r)
			}
			vs, err = nil, fmt.Errorf("slowai/backend: composing %s: %w", op, ce.err)
		}
	}()
	return body(), nil
}

// composeError carries an engine error out of a composition.
type composeError struct{ err error }

// must returns v, or aborts the enclosing compose with err.
func must(v compute.Value, err error) compute.Value {
	if err != nil {
		panic(composeError{err})
	}
	return v
}

// check aborts the enclosing compose if err is not nil.
func check(err error) {
	if err != nil {
		panic(composeError{err})
	}
}

// shapeOf returns the shape of v, aborting the enclosing compose on error.
func (f *function) shapeOf(v compute.Value) shapes.Shape {
	s, err := f.Shape(v)
	check(err)
	return s
}

// scalar returns a constant scalar of the given dtype.
func (f *function) scalar(dtype dtypes.DType, x float64) compute.Value {
	switch dtype {
	case dtypes.Float32:
		return must(f.Constant([]float32{float32(x)}))
	case dtypes.Float64:
		return must(f.Constant([]float64{x}))
	}
	return must(f.ConvertDType(must(f.Constant([]float64{x})), dtype))
}

// fill returns a tensor of shape s filled with the scalar value v.
func (f *function) fill(v compute.Value, s shapes.Shape) compute.Value {
	return must(f.BroadcastInDim(v, s, nil))
}

// along broadcasts v, of rank 1, along axis of shape s.
func (f *function) along(v compute.Value, s shapes.Shape, axis int) compute.Value {
	return must(f.BroadcastInDim(v, s, []int{axis}))
}

// otherAxes lists the axes 0..rank-1 except axis.
func otherAxes(rank, axis int) []int {
	axes := make([]int, 0, rank)
	for i := range rank {
		if i != axis {
			axes = append(axes, i)
		}
	}
	return axes
}
