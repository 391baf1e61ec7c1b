// Package nn is the course's layer set as plain GoMLX graph code, in PyTorch's conventions so that
// diffusers/transformers checkpoints load by walking names.
//
// # Two levels
//
// This package is the functional level (torch.nn.functional): ops on graph nodes with every weight passed in,
// for example Linear(x, w, b), Conv2D(x, w, b, ConvOpts{...}), GroupNorm(x, gamma, beta, groups, eps),
// Attention(q, k, v, heads, mask, causal). Package module (slowai/nn/module) is the module level (torch.nn):
// layers declare their parameters as Specs under their PyTorch state-dict names and read them from Vars when
// a graph is built; module.LoadFile loads a checkpoint by walking those names.
//
// # Layouts
//
// Images are NCHW [B, C, H, W] and sequences [B, T, C]. Weights keep PyTorch's shapes: Linear weight [out, in]
// and bias [out]; Conv2d weight [out, in/groups, kh, kw] and bias [out]; norm weight/bias [C]; Embedding
// weight [num, dim]; BatchNorm running_mean/running_var [C].
//
// # Backends
//
// Every op is tested forward against plain-Go loops and backward against central finite differences on the
// "go" (float64) and "onnx" (float32) backends. Ops avoid Rsqrt and Pad (missing on some backends): norms
// divide by Sqrt, padding goes into the convolution or window, bilinear resizing is two matrix products.
// Conv2D works around GoMLX v0.28.2's input gradient for even-sized kernels (off by one position) by routing
// the gradient through an equivalent odd-sized kernel.
//
// Ops panic (with errors, as GoMLX does) on inputs of the wrong shape, naming the op and the shapes; GoMLX's
// Exec turns such panics into errors.
package nn
