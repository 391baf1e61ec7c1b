package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

const tiny = "../../sd/pipeline/testdata/tiny"

func TestParseSize(t *testing.T) {
	for _, c := range []struct {
		in   string
		h, w int
		ok   bool
	}{{"512", 512, 512, true}, {"640x384", 384, 640, true}, {"64X32", 32, 64, true},
		{"", 0, 0, false}, {"0", 0, 0, false}, {"3x4x5", 0, 0, false}, {"ax8", 0, 0, false}} {
		h, w, err := parseSize(c.in)
		if (err == nil) != c.ok || h != c.h || w != c.w {
			t.Errorf("parseSize(%q) = %d, %d, %v", c.in, h, w, err)
		}
	}
}

// TestParity runs the tiny golden directory (all must pass), then a copy whose recorded
// pipeline call was edited (its comparisons must fail and parity must report it).
func TestParity(t *testing.T) {
	if testing.Short() {
		t.Skip("runs every model")
	}
	ok, err := parity([]string{"-golden", tiny, "-backend", "go"})
	if err != nil || !ok {
		t.Fatalf("parity on %s: ok=%v err=%v", tiny, ok, err)
	}

	dir := t.TempDir()
	abs, _ := filepath.Abs(tiny)
	for _, d := range []string{"clip_tokenizer", "clip_text", "unet", "vae"} {
		if err := os.Symlink(filepath.Join(abs, d), filepath.Join(dir, d)); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(dir, "pipeline"), 0o755)
	for _, f := range []string{"io.safetensors", "scheduler_config.json"} {
		os.Symlink(filepath.Join(abs, "pipeline", f), filepath.Join(dir, "pipeline", f))
	}
	var cfg map[string]any
	data, _ := os.ReadFile(filepath.Join(tiny, "pipeline", "config.json"))
	json.Unmarshal(data, &cfg)
	cfg["prompt"] = "a photo of a zebra in Rome"
	data, _ = json.Marshal(cfg)
	os.WriteFile(filepath.Join(dir, "pipeline", "config.json"), data, 0o644)
	ok, err = parity([]string{"-golden", dir, "-backend", "go"})
	if err != nil || ok {
		t.Errorf("parity with a changed prompt: ok=%v err=%v, want a failure", ok, err)
	}

	if _, err := parity([]string{"-golden", t.TempDir(), "-backend", "go"}); err == nil {
		t.Error("parity on an empty directory did not fail")
	}
}
