package tokenizer

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// endOfWord marks the last symbol of a word, so "a" inside a word and "a" as a whole word get
// different ids.
const endOfWord = "</w>"

// pretokenize splits cleaned text into the pieces BPE runs on, one regex match each: the two
// special tokens, English contractions, runs of letters, single digits, and runs of everything
// else that is not whitespace. (?i) mirrors the case-insensitive flag of CLIP's pattern.
var pretokenize = regexp.MustCompile(`(?i)<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`)

// byteToRune is GPT-2's bytes_to_unicode table: every byte gets a printable character, so BPE
// can work on strings while still covering arbitrary UTF-8. Printable Latin-1 bytes map to
// themselves; the other 68 get the code points 256, 257, ... in byte order.
var byteToRune, runeToByte = byteTables()

func byteTables() ([256]rune, map[rune]byte) {
	var fwd [256]rune
	keep := func(b int) bool {
		return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF)
	}
	n := 0
	for b := 0; b < 256; b++ {
		if keep(b) {
			fwd[b] = rune(b)
		} else {
			fwd[b] = rune(256 + n)
			n++
		}
	}
	inv := make(map[rune]byte, 256)
	for b, r := range fwd {
		inv[r] = byte(b)
	}
	return fwd, inv
}

// byteEncode maps each UTF-8 byte of s to its stand-in character.
func byteEncode(s string) string {
	var b strings.Builder
	b.Grow(2 * len(s))
	for i := 0; i < len(s); i++ {
		b.WriteRune(byteToRune[s[i]])
	}
	return b.String()
}

// byteDecode inverts byteEncode; characters outside the table (none in a CLIP vocab) are kept
// as their UTF-8 bytes. Invalid UTF-8 in the result becomes U+FFFD.
func byteDecode(s string) string {
	buf := make([]byte, 0, len(s))
	for _, r := range s {
		if b, ok := runeToByte[r]; ok {
			buf = append(buf, b)
		} else {
			buf = utf8.AppendRune(buf, r)
		}
	}
	return strings.ToValidUTF8(string(buf), "\uFFFD")
}

type pair struct{ a, b string }

// bpe splits one byte-encoded piece into vocabulary symbols: start from single characters (the
// last one carrying </w>) and repeatedly merge every occurrence, left to right, of the adjacent
// pair with the lowest merge rank, until no adjacent pair is a known merge.
func (t *Tokenizer) bpe(piece string) []string {
	t.mu.Lock()
	if out, ok := t.cache[piece]; ok {
		t.mu.Unlock()
		return out
	}
	t.mu.Unlock()

	word := make([]string, 0, utf8.RuneCountInString(piece))
	for _, r := range piece {
		word = append(word, string(r))
	}
	if len(word) == 0 {
		return nil
	}
	word[len(word)-1] += endOfWord
	for len(word) > 1 {
		best, bestRank := pair{}, -1
		for i := 0; i+1 < len(word); i++ {
			p := pair{word[i], word[i+1]}
			if r, ok := t.ranks[p]; ok && (bestRank < 0 || r < bestRank) {
				best, bestRank = p, r
			}
		}
		if bestRank < 0 {
			break
		}
		merged := word[:0:0]
		for i := 0; i < len(word); i++ {
			if i+1 < len(word) && word[i] == best.a && word[i+1] == best.b {
				merged = append(merged, best.a+best.b)
				i++
			} else {
				merged = append(merged, word[i])
			}
		}
		word = merged
	}

	t.mu.Lock()
	if len(t.cache) < maxCache {
		t.cache[piece] = word
	}
	t.mu.Unlock()
	return word
}

// maxCache bounds the BPE cache so a long-running program fed arbitrary text does not grow
// without limit.
const maxCache = 1 << 16
