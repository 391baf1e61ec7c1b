// Package nn is the course's layer set as plain GoMLX graph code, in PyTorch's conventions so that
// diffusers/transformers checkpoints load by walking names.
//
// # Two levels
//
// This package is the functional level (torch.nn.functional): ops on graph nodes with every weight passed in,
// for example Linear(x, w, b), Conv2D(x, w, b, ConvOpts{...}), GroupNorm(x, gamma, beta, groups, eps),
// Attention(q, k, v, heads, mask, causal). Package layer (slowai/nn/layer) is the module level (torch.nn): each
// layer creates or fetches its variables in a model.Scope and calls the op here.
//
// # Layouts
//
// Images are NCHW [B, C, H, W] and sequences [B, T, C]. Weights keep PyTorch's shapes: Linear weight [out, in]
// and bias [out]; Conv2d weight [out, in/groups, kh, kw] and bias [out]; norm weight/bias [C]; Embedding
// weight [num, dim]; BatchNorm buffers running_mean/running_var [C] and num_batches_tracked (int64 scalar).
//
// # Scope paths and state-dict keys
//
// A PyTorch state-dict key is the module path joined by "." followed by the parameter name. A GoMLX variable
// lives at a scope path joined by "/" followed by its name. The two map one to one by swapping the separators,
// relative to the scope the model was built in:
//
//	scope "down_blocks/0/resnets/0/conv1" + variable "weight"  <->  key "down_blocks.0.resnets.0.conv1.weight"
//	scope "up_blocks/1/attentions/0/transformer_blocks/0/attn1/to_out/0" + "bias"
//	                                                         <->  key "up_blocks.1.attentions.0.transformer_blocks.0.attn1.to_out.0.bias"
//
// So a port names its scopes exactly as the Python module attributes (ModuleList indices become "0", "1", ...),
// and a layer puts its variables directly in the scope it is given. KeyFromPath and PathFromKey convert;
// ScopeAt(s, "down_blocks.0.resnets.0") walks to a module's scope. The store's random-number state
// ("/#rngState") is never part of a state dict.
//
// Loading: build the model's graph once (variables then exist with their shapes), then LoadStateDict(scope, sd)
// checks every key and shape both ways (missing, unexpected, wrong shape or dtype -> one error naming each key)
// before setting anything. LoadStateDictPartial tolerates missing/unexpected keys and reports them.
// CreateFromStateDict instead creates the variables before the graph is built, so layers find them; a layer
// asking for a different shape then panics naming the variable path. StateDict reads the variables back out.
// Dtypes must already match (convert fp16 checkpoints to the model's dtype first).
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
