package pipeline

import (
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/gomlx/gomlx/core/tensors"

	"github.com/slowai-go/course/slowai/sd/weights"
)

// TokenIDs returns the prompt's padded token ids, exactly what the text encoder reads:
// <|startoftext|>, the tokens (at most 75), <|endoftext|>, then padding to 77.
func (sd *StableDiffusion) TokenIDs(prompt string) ([]int, error) {
	return sd.tokenIDs("prompt", prompt)
}

func (sd *StableDiffusion) tokenIDs(what, text string) ([]int, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("pipeline: %s is not valid UTF-8: %q", what, text)
	}
	ids, _, _, err := sd.Tokenizer.EncodePadded(text, sd.Tokenizer.MaxLen())
	if err != nil {
		return nil, fmt.Errorf("pipeline: %s: %w", what, err)
	}
	return ids, nil
}

// Embed runs the text encoder on a prompt and returns its last hidden state [1, 77, width]: the
// vectors the UNet's cross-attention layers read. The empty prompt gives the "unconditional"
// embedding classifier-free guidance steers away from.
func (sd *StableDiffusion) Embed(prompt string) (*tensors.Tensor, error) {
	return sd.embed("prompt", prompt)
}

func (sd *StableDiffusion) embed(what, text string) (*tensors.Tensor, error) {
	ids, err := sd.tokenIDs(what, text)
	if err != nil {
		return nil, err
	}
	last, _, err := sd.TextEncoder.Encode([][]int{ids})
	if err != nil {
		return nil, fmt.Errorf("pipeline: encoding the %s: %w", what, err)
	}
	return last, nil
}

// Mix returns (1-w)·a + w·b for two embeddings of the same shape: w = 0 is a, w = 1 is b and
// values in between ask the UNet for something between the two prompts.
func Mix(a, b *tensors.Tensor, w float64) (*tensors.Tensor, error) {
	x, xs := weights.Float32s(a)
	y, ys := weights.Float32s(b)
	if !slices.Equal(xs, ys) {
		return nil, fmt.Errorf("pipeline.Mix: embeddings of shapes %v and %v", xs, ys)
	}
	out := make([]float32, len(x))
	for i := range x {
		out[i] = float32((1-w)*float64(x[i]) + w*float64(y[i]))
	}
	return tensors.FromFlatDataAndDimensions(out, xs...), nil
}

// checkEmbedding verifies a caller-supplied embedding is [1, T, width].
func (sd *StableDiffusion) checkEmbedding(what string, t *tensors.Tensor) error {
	d := t.Shape().Dimensions
	if len(d) != 3 || d[0] != 1 || d[2] != sd.TextEncoder.Config.HiddenSize {
		return fmt.Errorf("pipeline: %s has shape %v, expected [1, T, %d]", what, d, sd.TextEncoder.Config.HiddenSize)
	}
	return nil
}
