package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

type goldenCase struct {
	Index         int      `json:"index"`
	Prompt        string   `json:"prompt"`
	InputIDs      []int    `json:"input_ids"`
	AttentionMask []int    `json:"attention_mask"`
	IDs           []int    `json:"ids"`
	Tokens        []string `json:"tokens"`
	Truncated     bool     `json:"truncated"`
}

func readCases(t testing.TB) []goldenCase {
	t.Helper()
	data, err := os.ReadFile("testdata/cases.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []goldenCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) != 40 {
		t.Fatalf("testdata/cases.json: %d cases, expected 40", len(f.Cases))
	}
	return f.Cases
}

func load(t testing.TB, dir string) *Tokenizer {
	t.Helper()
	tok, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// checkCases compares every golden case on tokens, unpadded ids, padded ids and mask.
func checkCases(t *testing.T, enc Encoder, cases []goldenCase) {
	t.Helper()
	for _, c := range cases {
		toks, err := enc.Tokens(c.Prompt)
		if err != nil {
			t.Fatalf("case %d: %v", c.Index, err)
		}
		if len(toks) == 0 && len(c.Tokens) == 0 {
			toks = c.Tokens
		}
		if !reflect.DeepEqual(toks, c.Tokens) {
			t.Errorf("case %d %q: tokens\n got %q\nwant %q", c.Index, c.Prompt, toks, c.Tokens)
		}
		ids, err := enc.Encode(c.Prompt)
		if err != nil {
			t.Fatalf("case %d: %v", c.Index, err)
		}
		if !reflect.DeepEqual(ids, c.IDs) {
			t.Errorf("case %d %q: ids\n got %v\nwant %v", c.Index, c.Prompt, ids, c.IDs)
		}
		padded, mask, truncated, err := enc.EncodePadded(c.Prompt, 77)
		if err != nil {
			t.Fatalf("case %d: %v", c.Index, err)
		}
		if !reflect.DeepEqual(padded, c.InputIDs) {
			t.Errorf("case %d %q: input_ids\n got %v\nwant %v", c.Index, c.Prompt, padded, c.InputIDs)
		}
		if !reflect.DeepEqual(mask, c.AttentionMask) {
			t.Errorf("case %d %q: attention_mask\n got %v\nwant %v", c.Index, c.Prompt, mask, c.AttentionMask)
		}
		if truncated != c.Truncated {
			t.Errorf("case %d: truncated = %v, want %v", c.Index, truncated, c.Truncated)
		}
	}
}

func TestGoldenCases(t *testing.T) {
	tok := load(t, "testdata")
	if tok.BOS() != 49406 || tok.EOS() != 49407 || tok.Pad() != 49407 || tok.MaxLen() != 77 || tok.VocabSize() != 49408 {
		t.Fatalf("specials bos=%d eos=%d pad=%d maxLen=%d vocab=%d, want 49406 49407 49407 77 49408",
			tok.BOS(), tok.EOS(), tok.Pad(), tok.MaxLen(), tok.VocabSize())
	}
	checkCases(t, tok, readCases(t))
}

func TestDefaultLengthAndTruncation(t *testing.T) {
	tok := load(t, "testdata")
	ids, mask, trunc, err := tok.EncodePadded("a photo of a cat", 0)
	if err != nil || len(ids) != 77 || len(mask) != 77 || trunc {
		t.Fatalf("maxLen 0: len %d/%d truncated %v err %v; want 77 ids and mask, not truncated", len(ids), len(mask), trunc, err)
	}
	ids, mask, trunc, err = tok.EncodePadded("a photo of a cat", 4)
	if err != nil || !reflect.DeepEqual(ids, []int{49406, 320, 1125, 49407}) || !reflect.DeepEqual(mask, []int{1, 1, 1, 1}) || !trunc {
		t.Fatalf("maxLen 4: ids %v mask %v truncated %v err %v", ids, mask, trunc, err)
	}
	if _, _, _, err := tok.EncodePadded("x", 1); err == nil {
		t.Fatal("maxLen 1: expected an error")
	}
}

// writeTokenizerJSON writes a tokenizers-library file holding the same vocab and merges.
func writeTokenizerJSON(t *testing.T, dir string, pairMerges bool) {
	t.Helper()
	data, err := os.ReadFile("testdata/vocab.json")
	if err != nil {
		t.Fatal(err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		t.Fatal(err)
	}
	mdata, err := os.ReadFile("testdata/merges.txt")
	if err != nil {
		t.Fatal(err)
	}
	var merges []any
	for i, line := range strings.Split(strings.TrimSpace(string(mdata)), "\n") {
		if i == 0 {
			continue // #version
		}
		if pairMerges {
			merges = append(merges, strings.Split(line, " "))
		} else {
			merges = append(merges, line)
		}
	}
	tj := map[string]any{
		"version": "1.0",
		"added_tokens": []map[string]any{
			{"id": 49406, "content": "<|startoftext|>", "special": true},
			{"id": 49407, "content": "<|endoftext|>", "special": true},
		},
		"model": map[string]any{"type": "BPE", "end_of_word_suffix": "</w>", "continuing_subword_prefix": "",
			"unk_token": "<|endoftext|>", "vocab": vocab, "merges": merges},
		// The rest of CLIPTokenizerFast's pipeline; the pure-Go loader ignores it, the Rust
		// library (hftokenizers tag) needs it.
		"normalizer": map[string]any{"type": "Sequence", "normalizers": []any{
			map[string]any{"type": "NFC"},
			map[string]any{"type": "Replace", "pattern": map[string]any{"Regex": `\s+`}, "content": " "},
			map[string]any{"type": "Lowercase"},
		}},
		"pre_tokenizer": map[string]any{"type": "Sequence", "pretokenizers": []any{
			map[string]any{"type": "Split", "behavior": "Removed", "invert": true, "pattern": map[string]any{
				"Regex": `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`}},
			map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
		}},
		"post_processor": map[string]any{"type": "RobertaProcessing", "sep": []any{"<|endoftext|>", 49407},
			"cls": []any{"<|startoftext|>", 49406}, "trim_offsets": false, "add_prefix_space": false},
		"decoder": map[string]any{"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true},
	}
	out, err := json.Marshal(tj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tokenizer.json"), out, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTokenizerJSON(t *testing.T) {
	cases := readCases(t)
	for _, pairs := range []bool{false, true} {
		dir := t.TempDir()
		writeTokenizerJSON(t, dir, pairs)
		tok := load(t, dir)
		if tok.VocabSize() != 49408 || len(tok.ranks) != 48894 {
			t.Fatalf("pairs=%v: vocab %d merges %d, want 49408 and 48894", pairs, tok.VocabSize(), len(tok.ranks))
		}
		checkCases(t, tok, cases)
	}
}

// TestDiffusersLayout loads from a repository root whose tokenizer lives in tokenizer/.
func TestDiffusersLayout(t *testing.T) {
	root := t.TempDir()
	sub := filepath.Join(root, "tokenizer")
	if err := os.Mkdir(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json"} {
		abs, _ := filepath.Abs(filepath.Join("testdata", f))
		if err := os.Symlink(abs, filepath.Join(sub, f)); err != nil {
			t.Fatal(err)
		}
	}
	tok := load(t, root)
	ids, err := tok.Encode("a photo of a cat")
	if err != nil || !reflect.DeepEqual(ids, []int{49406, 320, 1125, 539, 320, 2368, 49407}) {
		t.Fatalf("ids %v err %v", ids, err)
	}
}

// TestPadTokenFromConfig: SD v2's tokenizer pads with "!" (id 0) instead of eos.
func TestPadTokenFromConfig(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"vocab.json", "merges.txt"} {
		abs, _ := filepath.Abs(filepath.Join("testdata", f))
		if err := os.Symlink(abs, filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	cfg := `{"pad_token": {"content": "!", "special": true}, "model_max_length": 8}`
	if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	tok := load(t, dir)
	ids, mask, _, err := tok.EncodePadded("a cat", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ids, []int{49406, 320, 2368, 49407, 0, 0, 0, 0}) || !reflect.DeepEqual(mask, []int{1, 1, 1, 1, 0, 0, 0, 0}) {
		t.Fatalf("ids %v mask %v, want pad id 0 up to length 8", ids, mask)
	}
}

func TestDecode(t *testing.T) {
	tok := load(t, "testdata")
	for _, s := range []string{"a photo of a café", "a cute 🐱 with 🎉 emoji", "москва ночью"} {
		ids, err := tok.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := tok.Decode(ids[1 : len(ids)-1]); got != s {
			t.Errorf("Decode(Encode(%q)) = %q", s, got)
		}
	}
	if got := tok.Decode([]int{49406, 320, 2368, 49407}); got != "<|startoftext|>a cat <|endoftext|>" {
		t.Errorf("with specials: %q", got)
	}
}

func TestInvalidUTF8(t *testing.T) {
	tok := load(t, "testdata")
	if _, err := tok.Encode("caf\xe9"); err == nil || !strings.Contains(err.Error(), "UTF-8") {
		t.Fatalf("err = %v, want an error about UTF-8", err)
	}
}

func TestPyLower(t *testing.T) {
	// Values from CPython's str.lower.
	for in, want := range map[string]string{
		"ΟΔΟΣ.": "οδος.", "ΣΑ": "σα", "AΣ": "aς", "AΣ'B": "aσ'b", "İ": "i\u0307", "ÄRGER": "ärger",
	} {
		if got := pyLower(in); got != want {
			t.Errorf("pyLower(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCleanText(t *testing.T) {
	for in, want := range map[string]string{
		"  A\u00a0B\t\nC  ": "a b c",
		"東京タワー":             "東 京 タワー",
		"x\u200by\u0007z":   "xyz",
		"cafe\u0301":        "café",
	} {
		if got := cleanText(in); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestBadFiles(t *testing.T) {
	vocab, err := os.ReadFile("testdata/vocab.json")
	if err != nil {
		t.Fatal(err)
	}
	merges, err := os.ReadFile("testdata/merges.txt")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(merges), "\n")
	cases := []struct {
		name          string
		vocab, merges string // "" = file absent
		want          []string
	}{
		{"missing vocab", "", string(merges), []string{"vocab.json", "no such file"}},
		{"missing merges", string(vocab), "", []string{"merges.txt", "no such file"}},
		{"malformed merges line", string(vocab), lines[0] + lines[1] + "i n t\n" + lines[3], []string{"merges.txt:3", "two symbols"}},
		{"unknown merge", string(vocab), lines[0] + "zq xj\n", []string{"merges.txt:2", `"zqxj"`, "not in the vocabulary"}},
		{"malformed vocab", "{\n\"a\": 1,\n\"b\": x}", string(merges), []string{"vocab.json:3", "expected a JSON object"}},
		{"vocab wrong type", "{\n\"a\": \"one\"}", string(merges), []string{"vocab.json:2"}},
	}
	for _, c := range cases {
		dir := t.TempDir()
		if c.vocab != "" {
			os.WriteFile(filepath.Join(dir, "vocab.json"), []byte(c.vocab), 0o644)
		}
		if c.merges != "" {
			os.WriteFile(filepath.Join(dir, "merges.txt"), []byte(c.merges), 0o644)
		}
		_, err := Load(dir)
		if err == nil {
			t.Errorf("%s: expected an error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not mention %q", c.name, err, w)
			}
		}
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "vocab.json + merges.txt") {
		t.Errorf("empty dir: err = %v", err)
	}
}

func BenchmarkEncodePadded(b *testing.B) {
	tok := load(b, "testdata")
	cases := readCases(b)
	for b.Loop() {
		for _, c := range cases {
			tok.EncodePadded(c.Prompt, 77)
		}
	}
}
