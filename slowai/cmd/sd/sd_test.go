package main

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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

// TestMain lets a test run the command itself: with SD_TEST_MAIN=1 the test binary is sd.
func TestMain(m *testing.M) {
	if os.Getenv("SD_TEST_MAIN") == "1" {
		os.Args = append([]string{"sd"}, strings.Fields(os.Getenv("SD_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runSD runs `sd args...` in a child process and returns its exit status and output.
func runSD(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "SD_TEST_MAIN=1", "SD_TEST_ARGS="+strings.Join(args, " "))
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// TestHelpExitsZero: -h prints the flags and exits 0; an unknown flag exits 2.
func TestHelpExitsZero(t *testing.T) {
	for _, cmd := range []string{"generate", "weights", "parity"} {
		if code, out := runSD(t, cmd, "-h"); code != 0 || !strings.Contains(out, "Usage of "+cmd) {
			t.Errorf("sd %s -h: exit %d, output %q", cmd, code, out)
		}
	}
	if code, out := runSD(t, "generate", "-nosuchflag"); code != 2 || !strings.Contains(out, "flag provided but not defined: -nosuchflag") {
		t.Errorf("sd generate -nosuchflag: exit %d, output %q", code, out)
	}
}

// captureStderr collects what generate writes to standard error.
func captureStderr(t *testing.T) *strings.Builder {
	var b strings.Builder
	saved := stderr
	stderr = &b
	t.Cleanup(func() { stderr = saved })
	return &b
}

// TestGenerateChecksArgumentsFirst: bad options, an output path that cannot be written and a
// size the machine cannot hold are refused before the model loads, each with a message naming
// the option.
func TestGenerateChecksArgumentsFirst(t *testing.T) {
	savedMem := memTotal
	memTotal = func() (int64, error) { return 24 << 30, nil }
	defer func() { memTotal = savedMem }()
	dir := t.TempDir()
	notDir := filepath.Join(dir, "file")
	os.WriteFile(notDir, nil, 0o644)
	ok := []string{"-weights", tiny, "-backend", "go", "-prompt", "a fox", "-out", filepath.Join(dir, "x.png")}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-steps", "0"}, "generate: -steps 0, expected 1 to 1000"},
		{[]string{"-steps", "-3"}, "generate: -steps -3, expected 1 to 1000"},
		{[]string{"-out", filepath.Join(dir, "missing", "x.png")}, "generate: -out " + filepath.Join(dir, "missing", "x.png") + ": the directory " + filepath.Join(dir, "missing") + " does not exist"},
		{[]string{"-out", filepath.Join(notDir, "x.png")}, notDir + " is not a directory"},
		{[]string{"-out", dir}, "generate: -out " + dir + " is a directory"},
		{[]string{"-size", "100000"}, "generate: -size 100000 (100000×100000) needs about 103001 GB of memory"},
		{[]string{"-size", "100"}, "width and height must be multiples of 8"},
		{[]string{"-scheduler", "fast"}, `generate: -scheduler "fast", expected one of`},
		{[]string{"-guidance", "NaN"}, "generate: -guidance NaN"},
		{[]string{"-init-image", filepath.Join(dir, "x.png"), "-strength", "2"}, "generate: -strength 2, expected a value in [0, 1]"},
		{[]string{"-weights", filepath.Join(dir, "nowhere")}, "does not exist"},
	} {
		log := captureStderr(t)
		args := append(append([]string(nil), ok...), c.args...)
		err := generate(context.Background(), args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v\nwant it to contain %q", c.args, err, c.want)
		}
		if strings.Contains(log.String(), "loaded") {
			t.Errorf("%v: the model was loaded before the error", c.args)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "x.png")); err == nil {
		t.Error("a refused generation wrote a picture")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%s holds %d entries, want only %s (no temporary files)", dir, len(ents), notDir)
	}
}

// TestLongPromptWarning: a prompt longer than CLIP's 77 tokens is reported with the part that
// is cut off, as diffusers does, before the model loads.
func TestLongPromptWarning(t *testing.T) {
	log := captureStderr(t)
	long := strings.Repeat("a red fox in the snow, ", 12) + "with a blue whale"
	_, err := parseGenerate([]string{"-weights", tiny, "-prompt", long, "-out", filepath.Join(t.TempDir(), "x.png")})
	if err != nil {
		t.Fatal(err)
	}
	want := "sd: warning: -prompt has 88 tokens but CLIP reads only 75; this part is ignored:"
	if !strings.Contains(log.String(), want) || !strings.Contains(log.String(), "blue whale") {
		t.Errorf("stderr %q\nwant it to contain %q and the dropped words", log.String(), want)
	}
	log.Reset()
	if _, err := parseGenerate([]string{"-weights", tiny, "-prompt", "a red fox", "-out", filepath.Join(t.TempDir(), "x.png")}); err != nil || log.Len() != 0 {
		t.Errorf("short prompt: %v, stderr %q", err, log.String())
	}
}

// TestMemoryEstimate: the formula gives the README's 7 GB at 512×512 and scales the working
// memory with the pixel count.
func TestMemoryEstimate(t *testing.T) {
	if got := estimateMemory(512, 512); math.Abs(got-7e9) > 1e6 {
		t.Errorf("512×512: %.3g bytes, want 7e9", got)
	}
	if got := estimateMemory(1024, 1024); math.Abs(got-(4.3e9+4*2.7e9)) > 1e6 {
		t.Errorf("1024×1024: %.3g bytes, want 15.1e9", got)
	}
	if total, err := memTotal(); err == nil && total < 1<<30 {
		t.Errorf("MemTotal %d bytes: implausible", total)
	}
}
