package tokenizer

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// cleanText reproduces the text cleanup that HF's slow CLIPTokenizer applies when ftfy is not
// installed (BasicTokenizer with lower-casing, accents kept, no punctuation split), which is what
// the golden ids were recorded with. It returns the words re-joined by single spaces.
func cleanText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == 0 || r == unicode.ReplacementChar || isControl(r):
			// dropped
		case isWhitespace(r):
			b.WriteByte(' ')
		case isCJK(r):
			// Ideographs are words of their own, so surround them by spaces.
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	words := strings.Fields(norm.NFC.String(b.String()))
	for i, w := range words {
		words[i] = pyLower(w)
	}
	// Lower-casing never introduces whitespace, so one more split (as Python does) is a no-op.
	return strings.Join(words, " ")
}

// isWhitespace is BasicTokenizer's notion: ASCII space, tab, newline, CR and category Zs (e.g. NBSP).
func isWhitespace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || unicode.Is(unicode.Zs, r)
}

// isControl is true for categories Cc, Cf, Co, Cs and unassigned code points (Python's "Cn"),
// except tab, newline and CR, which count as whitespace.
func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	if unicode.Is(unicode.C, r) {
		return true
	}
	// Unassigned code points belong to no category in Go's tables.
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S, unicode.Z)
}

// isCJK lists the same CJK Unified Ideograph blocks as BasicTokenizer._is_chinese_char
// (kana and hangul are not included).
func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) ||
		(r >= 0x3400 && r <= 0x4DBF) ||
		(r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) ||
		(r >= 0x2B740 && r <= 0x2B81F) ||
		(r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) ||
		(r >= 0x2F800 && r <= 0x2FA1F)
}

// pyLower lower-cases like Python's str.lower: Go's simple mapping plus the two full-case rules
// Python applies, İ → "i̇" and word-final Σ → ς.
func pyLower(w string) string {
	rs := []rune(w)
	var b strings.Builder
	b.Grow(len(w))
	for i, r := range rs {
		switch r {
		case 'İ':
			b.WriteString("i\u0307")
		case 'Σ':
			if finalSigma(rs, i) {
				b.WriteRune('ς')
			} else {
				b.WriteRune('σ')
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma is Unicode's Final_Sigma condition: a cased letter before (skipping case-ignorable
// characters) and none after.
func finalSigma(rs []rune, i int) bool {
	j := i - 1
	for j >= 0 && caseIgnorable(rs[j]) {
		j--
	}
	if j < 0 || !cased(rs[j]) {
		return false
	}
	k := i + 1
	for k < len(rs) && caseIgnorable(rs[k]) {
		k++
	}
	return k >= len(rs) || !cased(rs[k])
}

func cased(r rune) bool {
	return unicode.In(r, unicode.Lu, unicode.Ll, unicode.Lt, unicode.Other_Lowercase, unicode.Other_Uppercase)
}

func caseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', '^', '`', 0x00B7, 0x0387, 0x05F4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E, 0xFF1A:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}
