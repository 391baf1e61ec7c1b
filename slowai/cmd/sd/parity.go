package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/slowai-go/course/slowai/sd/clip"
	"github.com/slowai-go/course/slowai/sd/pipeline"
	"github.com/slowai-go/course/slowai/sd/schedulers"
	"github.com/slowai-go/course/slowai/sd/tokenizer"
	"github.com/slowai-go/course/slowai/sd/unet"
	"github.com/slowai-go/course/slowai/sd/vae"
	"github.com/slowai-go/course/slowai/sd/weights"
)

// reporter prints one line per compared tensor and counts the outcomes.
type reporter struct {
	w              io.Writer
	passed, failed int
}

func (r *reporter) line(status, name string, maxErr, tol float64) {
	fmt.Fprintf(r.w, "%-4s  %-60s  max|err| %-9s  tol %s\n", status, name, num(maxErr), num(tol))
}

func num(v float64) string {
	if v == 0 {
		return "0"
	}
	if v == math.Trunc(v) && math.Abs(v) < 1e6 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.2e", v)
}

// report returns a weights.ReportFunc that prefixes names with the section.
func (r *reporter) report(section string) weights.ReportFunc {
	return func(name string, maxErr, tol float64, pass bool) {
		status := "PASS"
		if pass {
			r.passed++
		} else {
			status = "FAIL"
			r.failed++
		}
		r.line(status, section+"/"+name, maxErr, tol)
	}
}

// parity compares every component present in a golden-layout directory and reports whether all
// comparisons passed.
func parity(args []string) (bool, error) {
	fs := flag.NewFlagSet("parity", flag.ContinueOnError)
	dir := fs.String("golden", "", "directory laid out like the golden data: clip_tokenizer/, clip_text/, vae/, unet/, schedulers/, pipeline/ (required)")
	beName := fs.String("backend", "", "go, onnx or xla (default: the fastest available)")
	if err := parseFlags(fs, args); err != nil {
		return false, err
	}
	if *dir == "" || fs.NArg() > 0 {
		return false, fmt.Errorf("parity: usage: sd parity -golden DIR")
	}
	if st, err := os.Stat(*dir); err != nil || !st.IsDir() {
		return false, fmt.Errorf("parity: %s is not a directory", *dir)
	}
	be, err := newBackend(*beName)
	if err != nil {
		return false, err
	}
	r := &reporter{w: os.Stdout}
	sections := []struct {
		name string
		path string // must exist for the section to run
		run  func() error
	}{
		{"clip_tokenizer", "clip_tokenizer/cases.json", func() error {
			return tokenizerParity(filepath.Join(*dir, "clip_tokenizer"), r.report("clip_tokenizer"))
		}},
		{"clip_text", "clip_text/io.safetensors", func() error {
			return clip.CheckGolden(filepath.Join(*dir, "clip_text"), be, r.report("clip_text"))
		}},
		{"vae", "vae/io.safetensors", func() error {
			return vae.CheckGolden(filepath.Join(*dir, "vae"), be, r.report("vae"))
		}},
		{"unet", "unet/io.safetensors", func() error {
			return unet.CheckGolden(filepath.Join(*dir, "unet"), be, r.report("unet"))
		}},
		{"schedulers", "schedulers/index.json", func() error {
			return schedulers.CheckGolden(filepath.Join(*dir, "schedulers"), r.report("schedulers"))
		}},
		{"pipeline", "pipeline/io.safetensors", func() error {
			return pipeline.CheckGolden(*dir, be, r.report("pipeline"))
		}},
	}
	ran := 0
	for _, s := range sections {
		if _, err := os.Stat(filepath.Join(*dir, s.path)); err != nil {
			fmt.Printf("SKIP  %s (no %s)\n", s.name, s.path)
			continue
		}
		ran++
		before := r.failed
		start := time.Now()
		err := s.run()
		if err != nil && r.failed == before {
			// Failed before comparing anything (unreadable data, a model that does not load).
			r.failed++
			fmt.Printf("FAIL  %s: %v\n", s.name, err)
		}
		fmt.Fprintf(os.Stderr, "# %s: %.1fs\n", s.name, time.Since(start).Seconds())
	}
	if ran == 0 {
		return false, fmt.Errorf("parity: %s holds none of clip_tokenizer/, clip_text/, vae/, unet/, schedulers/, pipeline/", *dir)
	}
	fmt.Printf("%d passed, %d failed\n", r.passed, r.failed)
	return r.failed == 0, nil
}

// tokenizerCases is the part of clip_tokenizer/cases.json the comparison reads.
type tokenizerCases struct {
	Cases []struct {
		Index    int      `json:"index"`
		Prompt   string   `json:"prompt"`
		InputIDs []int    `json:"input_ids"`
		IDs      []int    `json:"ids"`
		Tokens   []string `json:"tokens"`
	} `json:"cases"`
}

// tokenizerParity runs every recorded prompt through the tokenizer and reports three lines:
// the padded input_ids, the unpadded ids (largest id difference over all cases; exact expected)
// and the BPE token strings (number of cases that differ).
func tokenizerParity(dir string, report weights.ReportFunc) error {
	path := filepath.Join(dir, "cases.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var tc tokenizerCases
	if err := json.Unmarshal(data, &tc); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if len(tc.Cases) == 0 {
		return fmt.Errorf("%s: no cases", path)
	}
	tok, err := tokenizer.Load(dir)
	if err != nil {
		return err
	}
	diff := func(got, want []int) float64 {
		if len(got) != len(want) {
			return math.Inf(1)
		}
		d := 0
		for i := range got {
			d = max(d, abs(got[i]-want[i]))
		}
		return float64(d)
	}
	var padErr, idsErr float64
	var badPad, badIDs, badTokens []string
	for _, c := range tc.Cases {
		label := fmt.Sprint(c.Index)
		padded, _, _, err := tok.EncodePadded(c.Prompt, len(c.InputIDs))
		if err != nil {
			return fmt.Errorf("case %d: %w", c.Index, err)
		}
		if d := diff(padded, c.InputIDs); d > 0 {
			padErr, badPad = max(padErr, d), append(badPad, label)
		}
		ids, err := tok.Encode(c.Prompt)
		if err != nil {
			return fmt.Errorf("case %d: %w", c.Index, err)
		}
		if d := diff(ids, c.IDs); d > 0 {
			idsErr, badIDs = max(idsErr, d), append(badIDs, label)
		}
		if c.Tokens != nil {
			toks, err := tok.Tokens(c.Prompt)
			if err != nil {
				return fmt.Errorf("case %d: %w", c.Index, err)
			}
			if !slices.Equal(toks, c.Tokens) {
				badTokens = append(badTokens, label)
			}
		}
	}
	n := len(tc.Cases)
	emit := func(name string, d float64, bad []string) {
		report(fmt.Sprintf("%s[%d cases]", name, n), d, 0, len(bad) == 0)
		if len(bad) > 0 {
			fmt.Printf("      cases that differ: %s\n", strings.Join(bad, ", "))
		}
	}
	emit("input_ids", padErr, badPad)
	emit("ids", idsErr, badIDs)
	emit("tokens", float64(len(badTokens)), badTokens)
	if len(badPad)+len(badIDs)+len(badTokens) > 0 {
		return fmt.Errorf("tokenizer mismatches")
	}
	return nil
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
