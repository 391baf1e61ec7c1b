package conv

import (
	"fmt"

	"github.com/slowai-go/course/slowai/nn"
	"github.com/slowai-go/course/slowai/nn/module"
)

// Stride2 adds a 3×3 convolution with stride 2 and padding 1 (it halves the image's height and
// width) from in to out channels, named "conv<name>", followed by a ReLU "relu<name>" when act is set.
func Stride2(s *module.Specs, seq *module.Sequential, name string, in, out int, act bool) {
	seq.Add("conv"+name, module.NewConv2D(s, name, in, out, 3, nn.ConvOpts{Stride: nn.Pair(2), Padding: nn.Pair(1)}))
	if act {
		seq.Add("relu"+name, module.Fn(nn.ReLU))
	}
}

// SimpleCNN is lesson 05's classifier for 1×28×28 images: stride-2 convolutions from 1 to 4, 8,
// 16 and 16 channels with ReLUs (28 → 14 → 7 → 4 → 2), then one to 10 channels at 1×1, whose
// values are the logits of the 10 classes: 5,274 parameters.
func SimpleCNN(s *module.Specs) *module.Sequential {
	seq := &module.Sequential{}
	chans := []int{1, 4, 8, 16, 16}
	for i := range len(chans) - 1 {
		Stride2(s, seq, fmt.Sprint(i), chans[i], chans[i+1], true)
	}
	Stride2(s, seq, fmt.Sprint(len(chans)-1), chans[len(chans)-1], 10, false)
	seq.Add("flatten", module.Flatten)
	return seq
}
