// Package optim holds the course's optimizers, gradient clipping, weight averaging and
// learning-rate schedules.
//
// An optimizer turns a parameter's gradient into a change of the parameter. All of them here are
// functions over graph nodes, used inside the one compiled graph of a training step: the step
// computes the loss, its gradients, and then Update for every parameter. The hyper-parameters that
// change during training (learning rate, momentum, step count) come into that graph as scalar
// inputs (Hyper), so a schedule can change them every step without recompiling anything.
//
// Some optimizers remember something about past gradients: per-parameter state tensors ("slots"),
// shaped like the parameter and starting at zero, that the training loop keeps between steps.
//
// The optimizers, in the order the course meets them (lr is the learning rate, g the gradient):
//
//   - SGD walks downhill: p ← p − lr·g. Simple, but noisy gradients make it zig-zag and it needs a
//     small lr where the loss is steep.
//   - Momentum walks along a running average of the gradients instead: avg ← μ·avg + (1−μ)·g, then
//     p ← p − lr·avg. Noise in the gradients cancels out in the average, and steps along a steady
//     slope build up. μ (0.9) is how much of the past the average keeps. Slot: "avg".
//   - RMSProp divides each gradient by a running average of its size: sq ← α·sq + (1−α)·g², then
//     p ← p − lr·g/(√sq + ε). Parameters whose gradients are always tiny get bigger steps, ones with
//     huge gradients smaller ones, so one lr suits all of them. Slot: "sq".
//   - Adam does both: the momentum average m of the gradient on top, RMSProp's average v of its square
//     below. Both averages start at zero, so early on they are too small; Adam divides them by
//     1−β1^t and 1−β2^t ("bias correction", t the step) to undo that. Slots: "m", "v".
//
// Weight decay (wd) pulls every weight towards zero a little on each step, so the model prefers small
// weights. Here it is "decoupled" as in fast.ai and PyTorch's AdamW: p ← p·(1−lr·wd) before the step.
// Adam also offers the older form (Decoupled false): wd·p added to the gradient, which Adam's division
// by √v then rescales. For plain SGD the two forms are the same thing.
//
// Around the optimizers: ClipGradNorm shrinks all gradients together when their joint size is too
// big (one bad batch cannot throw the weights far), EMAUpdate keeps a slow moving average of the weights
// (which often samples or predicts better than the last, noisy weights), and Schedule functions give
// the learning rate (and momentum) for each step: Constant, Linear, Cosine, Warmup, CosineWarmup and
// fast.ai's OneCycle.
package optim
