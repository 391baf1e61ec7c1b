package clip

import (
	"strings"
	"testing"

	"github.com/slowai-go/course/slowai/nn/module"

	"github.com/gomlx/compute"

	"github.com/slowai-go/course/slowai/safetensors"
	"github.com/slowai-go/course/slowai/sd/weights"
	"github.com/slowai-go/course/slowai/sd/weights/weightstest"
)

func TestGolden(t *testing.T) {
	weightstest.Golden(t, 2+3, func(be compute.Backend, report weights.ReportFunc) error {
		return CheckGolden("testdata", be, report)
	})
}

// TestEncode checks the host-level API against the reference for a single prompt (a batch of 1
// with a shorter sequence than the golden batch exercises the position slicing).
func TestEncode(t *testing.T) {
	be := weightstest.GoBackend(t)
	m, err := Load("testdata", be)
	if err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Open("testdata/io.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ids, _, _ := f.Int64("input_ids")
	want, _, _ := f.Float32("last_hidden_state")
	wantPooled, _, _ := f.Float32("pooler_output")
	// Row 1 (the truncated 94-id prompt) ends with eos at position 76.
	row := make([]int, 77)
	for i := range row {
		row[i] = int(ids[77+i])
	}
	last, pooled, err := m.Encode([][]int{row})
	if err != nil {
		t.Fatal(err)
	}
	got, shape := weights.Float32s(last)
	d, err := weights.MaxAbsDiff(got, shape, want[77*32:2*77*32], []int{1, 77, 32})
	if err != nil || d > 1e-4 {
		t.Errorf("last hidden: max err %g, %v", d, err)
	}
	gp, pshape := weights.Float32s(pooled)
	d, err = weights.MaxAbsDiff(gp, pshape, wantPooled[32:64], []int{1, 32})
	if err != nil || d > 1e-4 {
		t.Errorf("pooled: max err %g, %v", d, err)
	}
	// Causality: the first 10 positions do not depend on what follows them.
	short, _, err := m.Encode([][]int{row[:10]})
	if err != nil {
		t.Fatal(err)
	}
	gs, sshape := weights.Float32s(short)
	d, err = weights.MaxAbsDiff(gs, sshape, got[:10*32], []int{1, 10, 32})
	if err != nil || d > 1e-5 {
		t.Errorf("prefix of length 10 differs from full sequence: %g, %v", d, err)
	}
	if _, _, err := m.Encode([][]int{{49408}}); err == nil {
		t.Error("id outside the vocabulary accepted")
	}
}

// TestSD1Size builds (without values) SD v1's text encoder, CLIP ViT-L/14's text tower, and
// checks its parameter count against transformers' 123,060,480.
func TestSD1Size(t *testing.T) {
	m, err := New(SD1Config(), module.NewVars("/clip"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := m.Specs.NumParams(); n != 123060480 {
		t.Errorf("SD v1 text encoder has %d parameters, want 123060480", n)
	}
}

// TestPooling checks both of transformers' pooling rules on rows with and without an eos token.
func TestPooling(t *testing.T) {
	be := weightstest.GoBackend(t)
	rows := [][]int{
		{49406, 320, 1125, 49407, 49407, 49407}, // eos at 3
		{49406, 320, 1125, 539, 8000, 12},       // no eos: largest id at 0
		{5, 320, 49407, 539, 8000, 12},          // eos at 2
	}
	for _, c := range []struct {
		eos  int
		want []int
	}{
		{2, []int{3, 0, 2}},     // legacy rule: position of the largest id
		{49407, []int{3, 0, 2}}, // first eos; 0 when there is none
	} {
		cfg, err := LoadConfig("testdata")
		if err != nil {
			t.Fatal(err)
		}
		cfg.EOSTokenID = c.eos
		m, err := New(cfg, module.NewVars("/clip"), be)
		if err != nil {
			t.Fatal(err)
		}
		if err := m.LoadWeights("testdata/model.safetensors"); err != nil {
			t.Fatal(err)
		}
		last, pooled, err := m.Encode(rows)
		if err != nil {
			t.Fatal(err)
		}
		l, _ := weights.Float32s(last)
		p, _ := weights.Float32s(pooled)
		for b, pos := range c.want {
			off := (b*6 + pos) * 32
			if d, _ := weights.MaxAbsDiff(p[b*32:(b+1)*32], []int{32}, l[off:off+32], []int{32}); d != 0 {
				t.Errorf("eos_token_id %d, row %d: pooled is not position %d", c.eos, b, pos)
			}
		}
	}
	// Row 1 breaks the tie between the rules when the largest id is not eos: 8000 at 4 vs none.
	cfg, _ := LoadConfig("testdata")
	m, _ := New(cfg, module.NewVars("/clip"), be)
	m.LoadWeights("testdata/model.safetensors")
	last, pooled, _ := m.Encode([][]int{{5, 320, 8000, 12}})
	l, _ := weights.Float32s(last)
	p, _ := weights.Float32s(pooled)
	if d, _ := weights.MaxAbsDiff(p, []int{32}, l[2*32:3*32], []int{32}); d != 0 {
		t.Error("legacy rule: pooled is not the position of the largest id")
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.NumAttentionHeads = 5 }, "num_attention_heads"},
		{func(c *Config) { c.HiddenAct = "tanh" }, "tanh"},
	} {
		cfg, err := LoadConfig("testdata")
		if err != nil {
			t.Fatal(err)
		}
		c.edit(&cfg)
		if _, err := New(cfg, module.NewVars("/clip"), nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("want error mentioning %q, got %v", c.want, err)
		}
	}
}
