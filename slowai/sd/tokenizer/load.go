package tokenizer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Default special tokens and length of CLIP's tokenizer, used when a directory has no
// tokenizer_config.json / special_tokens_map.json.
const (
	defaultBOS    = "<|startoftext|>"
	defaultEOS    = "<|endoftext|>"
	defaultMaxLen = 77
)

// Load reads a CLIP BPE tokenizer from dir. It accepts either a tokenizer folder (with
// tokenizer.json, or vocab.json + merges.txt) or a diffusers repository whose tokenizer lives in
// dir/tokenizer. tokenizer.json wins when both formats are present. tokenizer_config.json and
// special_tokens_map.json, when present, name the bos/eos/unk/pad tokens and model_max_length.
func Load(dir string) (*Tokenizer, error) {
	d, err := findDir(dir)
	if err != nil {
		return nil, err
	}
	t := &Tokenizer{cache: map[string][]string{}}
	var added []string
	if exists(filepath.Join(d, "tokenizer.json")) {
		added, err = t.readTokenizerJSON(filepath.Join(d, "tokenizer.json"))
	} else {
		err = t.readVocabMerges(filepath.Join(d, "vocab.json"), filepath.Join(d, "merges.txt"))
	}
	if err != nil {
		return nil, err
	}
	cfg, err := readConfig(d)
	if err != nil {
		return nil, err
	}
	if err := t.setSpecials(cfg, added); err != nil {
		return nil, fmt.Errorf("tokenizer: %s: %w", d, err)
	}
	return t, nil
}

// findDir picks the folder holding the tokenizer files: dir itself or dir/tokenizer.
func findDir(dir string) (string, error) {
	has := func(d string) bool {
		return exists(filepath.Join(d, "tokenizer.json")) || exists(filepath.Join(d, "vocab.json")) ||
			exists(filepath.Join(d, "merges.txt"))
	}
	if has(dir) {
		return dir, nil
	}
	if sub := filepath.Join(dir, "tokenizer"); has(sub) {
		return sub, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("tokenizer: %w (expected a folder with tokenizer.json or vocab.json + merges.txt)", err)
	}
	return "", fmt.Errorf("tokenizer: %s: expected tokenizer.json or vocab.json + merges.txt there or in %s",
		dir, filepath.Join(dir, "tokenizer"))
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// readVocabMerges loads the slow-tokenizer format: vocab.json {token: id} and merges.txt, one
// "a b" pair per line in rank order after an optional "#version" header.
func (t *Tokenizer) readVocabMerges(vocabPath, mergesPath string) error {
	data, err := os.ReadFile(vocabPath)
	if err != nil {
		return fmt.Errorf("tokenizer: vocabulary: %w", err)
	}
	var vocab map[string]int
	if err := json.Unmarshal(data, &vocab); err != nil {
		return jsonError(vocabPath, data, err, "a JSON object {token: id}")
	}
	if err := t.setVocab(vocab, vocabPath); err != nil {
		return err
	}

	f, err := os.Open(mergesPath)
	if err != nil {
		return fmt.Errorf("tokenizer: merges: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var merges []pair
	var lines []int
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimRight(sc.Text(), "\r")
		if (line == 1 && strings.HasPrefix(s, "#version")) || s == "" {
			continue
		}
		parts := strings.Split(s, " ")
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return fmt.Errorf("tokenizer: %s:%d: expected two symbols separated by one space, got %q", mergesPath, line, s)
		}
		merges = append(merges, pair{parts[0], parts[1]})
		lines = append(lines, line)
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("tokenizer: reading %s: %w", mergesPath, err)
	}
	return t.setMerges(merges, func(i int) string { return fmt.Sprintf("%s:%d", mergesPath, lines[i]) })
}

// readTokenizerJSON loads the fast-tokenizer format (model.vocab and model.merges of a BPE model;
// merges either as "a b" strings or as [a, b] pairs) and returns the added tokens' contents.
func (t *Tokenizer) readTokenizerJSON(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	var tj struct {
		AddedTokens []struct {
			ID      int    `json:"id"`
			Content string `json:"content"`
		} `json:"added_tokens"`
		Model struct {
			Type   string            `json:"type"`
			Vocab  map[string]int    `json:"vocab"`
			Merges []json.RawMessage `json:"merges"`
		} `json:"model"`
	}
	if err := json.Unmarshal(data, &tj); err != nil {
		return nil, jsonError(path, data, err, "a tokenizers JSON file")
	}
	if tj.Model.Type != "BPE" {
		return nil, fmt.Errorf("tokenizer: %s: model.type is %q, expected \"BPE\"", path, tj.Model.Type)
	}
	vocab := tj.Model.Vocab
	var added []string
	for _, a := range tj.AddedTokens {
		if vocab == nil {
			vocab = map[string]int{}
		}
		if _, ok := vocab[a.Content]; !ok {
			vocab[a.Content] = a.ID
		}
		added = append(added, a.Content)
	}
	if err := t.setVocab(vocab, path+": model.vocab"); err != nil {
		return nil, err
	}
	merges := make([]pair, len(tj.Model.Merges))
	for i, raw := range tj.Model.Merges {
		var s string
		var two []string
		switch {
		case json.Unmarshal(raw, &s) == nil:
			two = strings.Split(s, " ")
		case json.Unmarshal(raw, &two) == nil:
		}
		if len(two) != 2 || two[0] == "" || two[1] == "" {
			return nil, fmt.Errorf("tokenizer: %s: model.merges[%d] = %s: expected \"a b\" or [\"a\", \"b\"]", path, i, raw)
		}
		merges[i] = pair{two[0], two[1]}
	}
	return added, t.setMerges(merges, func(i int) string { return fmt.Sprintf("%s: model.merges[%d]", path, i) })
}

func (t *Tokenizer) setVocab(vocab map[string]int, where string) error {
	if len(vocab) == 0 {
		return fmt.Errorf("tokenizer: %s: empty vocabulary", where)
	}
	maxID := 0
	for tok, id := range vocab {
		if id < 0 {
			return fmt.Errorf("tokenizer: %s: token %q has negative id %d", where, tok, id)
		}
		maxID = max(maxID, id)
	}
	t.vocab = vocab
	t.inv = make([]string, maxID+1)
	for tok, id := range vocab {
		t.inv[id] = tok
	}
	return nil
}

// setMerges records merge ranks. Like Python's dict(zip(merges, range(n))), a repeated pair keeps
// its last rank. Every merged symbol must be in the vocabulary, otherwise BPE could produce a
// token without an id.
func (t *Tokenizer) setMerges(merges []pair, where func(i int) string) error {
	t.ranks = make(map[pair]int, len(merges))
	for i, p := range merges {
		if _, ok := t.vocab[p.a+p.b]; !ok {
			return fmt.Errorf("tokenizer: %s: merged symbol %q is not in the vocabulary", where(i), p.a+p.b)
		}
		t.ranks[p] = i
	}
	return nil
}

// config holds the fields of tokenizer_config.json / special_tokens_map.json this package uses.
type config struct {
	bos, eos, unk, pad string
	maxLen             int
}

func readConfig(dir string) (config, error) {
	cfg := config{}
	for _, name := range []string{"tokenizer_config.json", "special_tokens_map.json"} {
		path := filepath.Join(dir, name)
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return cfg, fmt.Errorf("tokenizer: %w", err)
		}
		var raw map[string]json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return cfg, jsonError(path, data, err, "a JSON object")
		}
		for key, dst := range map[string]*string{"bos_token": &cfg.bos, "eos_token": &cfg.eos,
			"unk_token": &cfg.unk, "pad_token": &cfg.pad} {
			v, ok := raw[key]
			if !ok || *dst != "" {
				continue
			}
			s, err := tokenContent(v)
			if err != nil {
				return cfg, fmt.Errorf("tokenizer: %s: %s: %w", path, key, err)
			}
			*dst = s
		}
		if v, ok := raw["model_max_length"]; ok && cfg.maxLen == 0 {
			var f float64
			if err := json.Unmarshal(v, &f); err != nil {
				return cfg, fmt.Errorf("tokenizer: %s: model_max_length = %s: expected a number", path, v)
			}
			// HF writes a huge sentinel (1e30) when the length is unknown.
			if f >= 1 && f < 1e6 {
				cfg.maxLen = int(f)
			}
		}
	}
	return cfg, nil
}

// tokenContent reads a special token written either as a string or as {"content": "..."}.
func tokenContent(v json.RawMessage) (string, error) {
	var s string
	if json.Unmarshal(v, &s) == nil {
		return s, nil
	}
	var obj struct {
		Content string `json:"content"`
	}
	if err := json.Unmarshal(v, &obj); err != nil || obj.Content == "" {
		return "", fmt.Errorf("got %s, expected a string or {\"content\": ...}", v)
	}
	return obj.Content, nil
}

func (t *Tokenizer) setSpecials(cfg config, added []string) error {
	or := func(s, def string) string {
		if s == "" {
			return def
		}
		return s
	}
	cfg.bos = or(cfg.bos, defaultBOS)
	cfg.eos = or(cfg.eos, defaultEOS)
	cfg.unk = or(cfg.unk, cfg.eos)
	cfg.pad = or(cfg.pad, cfg.eos)
	t.maxLen = cfg.maxLen
	if t.maxLen == 0 {
		t.maxLen = defaultMaxLen
	}
	for _, s := range []struct {
		name, tok string
		id        *int
	}{{"bos", cfg.bos, &t.bos}, {"eos", cfg.eos, &t.eos}, {"unk", cfg.unk, &t.unk}, {"pad", cfg.pad, &t.pad}} {
		id, ok := t.vocab[s.tok]
		if !ok {
			return fmt.Errorf("%s token %q is not in the vocabulary", s.name, s.tok)
		}
		*s.id = id
	}
	// Like HF's slow tokenizer, every special or added token is cut out of the text before
	// cleanup; the longest one wins where several start at the same place.
	seen := map[string]bool{}
	for _, s := range append([]string{cfg.bos, cfg.eos, cfg.unk, cfg.pad}, added...) {
		if s != "" && !seen[s] {
			if _, ok := t.vocab[s]; ok {
				seen[s] = true
				t.specials = append(t.specials, s)
			}
		}
	}
	sort.SliceStable(t.specials, func(i, j int) bool { return len(t.specials[i]) > len(t.specials[j]) })
	return nil
}

// jsonError names the file, the line and what was expected.
func jsonError(path string, data []byte, err error, want string) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off >= 0 && off <= int64(len(data)) {
		line := 1 + bytes.Count(data[:off], []byte{'\n'})
		return fmt.Errorf("tokenizer: %s:%d: expected %s: %w", path, line, want, err)
	}
	return fmt.Errorf("tokenizer: %s: expected %s: %w", path, want, err)
}
