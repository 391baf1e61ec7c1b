//go:build hftokenizers

package tokenizer

import (
	"fmt"
	"path/filepath"
	"unicode/utf8"

	hf "github.com/daulet/tokenizers"
)

// HF wraps Hugging Face's Rust tokenizers library (through github.com/daulet/tokenizers) behind
// the same Encoder interface, as a cross-check of the pure-Go port. Building with the tag
// hftokenizers needs libtokenizers.a from that project on the linker path.
//
// Note the Rust CLIPTokenizerFast normalises text differently from the slow tokenizer the golden
// data were recorded with (NFC + collapse whitespace + lowercase, no control-character removal or
// CJK splitting), so the two can differ on such inputs.
type HF struct {
	tk   *hf.Tokenizer
	meta *Tokenizer // pure-Go twin: pad/eos ids and max length from the same directory
}

var _ Encoder = (*HF)(nil)

// LoadHF loads dir/tokenizer.json (or dir/tokenizer/tokenizer.json) with the Rust library.
func LoadHF(dir string) (*HF, error) {
	d, err := findDir(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(d, "tokenizer.json")
	if !exists(path) {
		return nil, fmt.Errorf("tokenizer: %s: the hftokenizers backend needs tokenizer.json", d)
	}
	meta, err := Load(d)
	if err != nil {
		return nil, err
	}
	tk, err := hf.FromFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", path, err)
	}
	return &HF{tk: tk, meta: meta}, nil
}

// Close frees the Rust tokenizer.
func (h *HF) Close() error { return h.tk.Close() }

// Encode returns bos + ids + eos, as the post-processor in tokenizer.json adds them.
func (h *HF) Encode(text string) ([]int, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("tokenizer: text is not valid UTF-8: %q", text)
	}
	ids, _ := h.tk.Encode(text, true)
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = int(id)
	}
	return out, nil
}

// EncodePadded pads or truncates in Go, exactly like Tokenizer.EncodePadded.
func (h *HF) EncodePadded(text string, maxLen int) (ids, mask []int, truncated bool, err error) {
	full, err := h.Encode(text)
	if err != nil {
		return nil, nil, false, err
	}
	return padTruncate(full, maxLen, h.meta.maxLen, h.meta.eos, h.meta.pad)
}

// Tokens returns the symbols without bos/eos.
func (h *HF) Tokens(text string) ([]string, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("tokenizer: text is not valid UTF-8: %q", text)
	}
	_, toks := h.tk.Encode(text, false)
	return toks, nil
}

// Decode keeps special tokens, like Tokenizer.Decode.
func (h *HF) Decode(ids []int) string {
	u := make([]uint32, 0, len(ids))
	for _, id := range ids {
		if id >= 0 {
			u = append(u, uint32(id))
		}
	}
	return h.tk.Decode(u, false)
}
