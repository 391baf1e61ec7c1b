// Package tokenizer turns prompts into the token ids Stable Diffusion's CLIP text encoder reads.
//
// It is a pure-Go port of CLIP's byte-level BPE as run by Hugging Face's slow CLIPTokenizer
// (without ftfy): special tokens are cut out, the rest is cleaned up and lower-cased, split into
// words, digits and punctuation runs, each piece's UTF-8 bytes are mapped to printable
// characters, and BPE merges them into vocabulary symbols. The SD pipeline then wraps the ids
// in <|startoftext|> … <|endoftext|> and pads to 77.
package tokenizer

import (
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"
)

// Encoder is what the rest of the course needs from a tokenizer; both the pure-Go Tokenizer and
// the optional Rust-backed one (build tag hftokenizers) satisfy it.
type Encoder interface {
	// Encode returns bos + token ids + eos, without padding or truncation.
	Encode(text string) ([]int, error)
	// EncodePadded returns exactly maxLen ids (the tokenizer's model_max_length when maxLen
	// <= 0): truncated to bos + maxLen-2 tokens + eos, or padded with the pad id; mask is 1
	// on real tokens and 0 on padding.
	EncodePadded(text string, maxLen int) (ids, mask []int, truncated bool, err error)
	// Tokens returns the BPE symbols of text, without bos/eos.
	Tokens(text string) ([]string, error)
	// Decode turns ids back into text, for display.
	Decode(ids []int) string
}

var _ Encoder = (*Tokenizer)(nil)

// Tokenizer is a loaded CLIP BPE tokenizer. It is safe for concurrent use.
type Tokenizer struct {
	vocab    map[string]int
	inv      []string // id → token ("" for unused ids)
	ranks    map[pair]int
	specials []string // cut out before cleanup, longest first
	bos, eos int
	unk, pad int
	maxLen   int

	mu    sync.Mutex
	cache map[string][]string
}

// BOS is the id of <|startoftext|> (49406 for CLIP).
func (t *Tokenizer) BOS() int { return t.bos }

// EOS is the id of <|endoftext|> (49407 for CLIP).
func (t *Tokenizer) EOS() int { return t.eos }

// Pad is the id used for padding: 49407 in SD v1 (same as eos), 0 ("!") in SD v2.
func (t *Tokenizer) Pad() int { return t.pad }

// MaxLen is model_max_length, the sequence length the text encoder expects (77).
func (t *Tokenizer) MaxLen() int { return t.maxLen }

// VocabSize is one more than the largest id.
func (t *Tokenizer) VocabSize() int { return len(t.inv) }

// ID returns the id of a vocabulary symbol such as "cat</w>".
func (t *Tokenizer) ID(token string) (int, bool) {
	id, ok := t.vocab[token]
	return id, ok
}

// Token returns the vocabulary symbol of id ("" when out of range).
func (t *Tokenizer) Token(id int) string {
	if id < 0 || id >= len(t.inv) {
		return ""
	}
	return t.inv[id]
}

// Tokens returns the BPE symbols of text (byte-level form, e.g. "cafÃ©</w>"), including any
// special tokens written literally in the text, without the surrounding bos/eos.
func (t *Tokenizer) Tokens(text string) ([]string, error) {
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("tokenizer: text is not valid UTF-8: %q", text)
	}
	var out []string
	for _, seg := range t.splitSpecials(text) {
		if seg.special {
			out = append(out, seg.text)
			continue
		}
		for _, piece := range pretokenize.FindAllString(cleanText(seg.text), -1) {
			out = append(out, t.bpe(byteEncode(piece))...)
		}
	}
	return out, nil
}

// Encode returns bos + ids + eos with no padding and no truncation.
func (t *Tokenizer) Encode(text string) ([]int, error) {
	toks, err := t.Tokens(text)
	if err != nil {
		return nil, err
	}
	ids := make([]int, 0, len(toks)+2)
	ids = append(ids, t.bos)
	for _, tok := range toks {
		id, ok := t.vocab[tok]
		if !ok {
			id = t.unk
		}
		ids = append(ids, id)
	}
	return append(ids, t.eos), nil
}

// EncodePadded is what the SD pipeline calls: exactly maxLen ids (MaxLen() when maxLen <= 0).
// Longer prompts keep bos + the first maxLen-2 tokens + eos and report truncated; shorter ones
// are padded with Pad(). mask is 1 for every real token (bos and eos included), 0 on padding.
func (t *Tokenizer) EncodePadded(text string, maxLen int) (ids, mask []int, truncated bool, err error) {
	full, err := t.Encode(text)
	if err != nil {
		return nil, nil, false, err
	}
	return padTruncate(full, maxLen, t.maxLen, t.eos, t.pad)
}

// padTruncate is shared with the hftokenizers adapter.
func padTruncate(full []int, maxLen, defLen, eos, pad int) (ids, mask []int, truncated bool, err error) {
	if maxLen <= 0 {
		maxLen = defLen
	}
	if maxLen < 2 {
		return nil, nil, false, fmt.Errorf("tokenizer: maxLen %d too small, expected at least 2 (bos + eos)", maxLen)
	}
	ids = make([]int, maxLen)
	mask = make([]int, maxLen)
	n := len(full)
	if n > maxLen {
		truncated = true
		copy(ids, full[:maxLen-1])
		ids[maxLen-1] = eos
		n = maxLen
	} else {
		copy(ids, full)
		for i := n; i < maxLen; i++ {
			ids[i] = pad
		}
	}
	for i := range n {
		mask[i] = 1
	}
	return ids, mask, truncated, nil
}

// Decode joins the ids' symbols, maps the byte stand-ins back to bytes and turns every </w>
// into a space. Special tokens are kept as text; ids outside the vocabulary are skipped.
func (t *Tokenizer) Decode(ids []int) string {
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(t.Token(id))
	}
	s := byteDecode(b.String())
	return strings.TrimSpace(strings.ReplaceAll(s, endOfWord, " "))
}

type segment struct {
	text    string
	special bool
}

// splitSpecials cuts literal special tokens out of text, scanning left to right and taking the
// longest special token that starts at each position.
func (t *Tokenizer) splitSpecials(text string) []segment {
	var segs []segment
	start := 0
	for i := 0; i < len(text); {
		match := ""
		for _, s := range t.specials { // longest first
			if strings.HasPrefix(text[i:], s) {
				match = s
				break
			}
		}
		if match == "" {
			i++
			continue
		}
		if i > start {
			segs = append(segs, segment{text: text[start:i]})
		}
		segs = append(segs, segment{text: match, special: true})
		i += len(match)
		start = i
	}
	if start < len(text) {
		segs = append(segs, segment{text: text[start:]})
	}
	return segs
}
