package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func mustParse(t *testing.T, name string, b []byte) *notebook {
	t.Helper()
	nb, err := parseNotebook(name, b)
	if err != nil {
		t.Fatal(err)
	}
	return nb
}

func TestTitleAndSummary(t *testing.T) {
	tests := []struct {
		name, json, title, summary string
	}{
		{"lines as list", `{"cells":[{"cell_type":"markdown","source":["# From pixels to *Stable Diffusion*\n","\n","We build a [denoiser](x.html) from scratch,\n","one **package** at a time.\n","\n","More."]}]}`,
			"From pixels to Stable Diffusion", "We build a denoiser from scratch, one package at a time."},
		{"source as string, summary in next cell", `{"cells":[{"cell_type":"code","source":"%%\nfmt.Println(1)"},{"cell_type":"markdown","source":"## DDPM ##"},{"cell_type":"markdown","source":"<img src=x>\n\nNoise in, noise out."}]}`,
			"DDPM", "Noise in, noise out."},
		{"no heading", `{"cells":[{"cell_type":"markdown","source":"just text"}]}`, "", ""},
		{"summary stops at next heading", `{"cells":[{"cell_type":"markdown","source":"# T\n## Sub\nText"}]}`, "T", "Text"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			title, summary := mustParse(t, tc.name, []byte(tc.json)).titleAndSummary()
			if title != tc.title || summary != tc.summary {
				t.Errorf("got (%q, %q), want (%q, %q)", title, summary, tc.title, tc.summary)
			}
		})
	}
}

func TestMinImagesMetadata(t *testing.T) {
	nb := mustParse(t, "m", []byte(`{"metadata":{"slowai":{"min_images":3}},"cells":[]}`))
	if nb.Metadata.Slowai.MinImages != 3 {
		t.Errorf("min_images = %d, want 3", nb.Metadata.Slowai.MinImages)
	}
	if _, err := parseNotebook("bad.ipynb", []byte(`[1,2]`)); err == nil || !strings.Contains(err.Error(), "bad.ipynb") {
		t.Errorf("want an error naming the file, got %v", err)
	}
}

// The fixtures are notebooks really executed by nbconvert with the GoNB kernel.
func TestFindErrorsPanic(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "executed_panic.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	errs := mustParse(t, "panic", b).findErrors()
	if len(errs) != 1 {
		t.Fatalf("want exactly the panicking cell, got %v", errs)
	}
	e := errs[0]
	if e.Cell != 4 || e.In != 3 || e.First != `fmt.Println("cell 3")` {
		t.Errorf("wrong cell identified: %+v", e)
	}
	for _, want := range []string{"index out of range", "exit status 2"} {
		if !strings.Contains(e.Message, want) {
			t.Errorf("message lacks %q:\n%s", want, e.Message)
		}
	}
}

func TestFindErrorsGoNBBlock(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "executed_goget_error.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	errs := mustParse(t, "goget", b).findErrors()
	if len(errs) != 1 || errs[0].Cell != 2 {
		t.Fatalf("want the import cell (2) only, got %v", errs)
	}
	// GoNB's HTML block is turned back into text, with entities decoded and the CSS dropped.
	if msg := errs[0].Message; !strings.Contains(msg, "403 Forbidden") || strings.Contains(msg, "border-radius") ||
		strings.Contains(msg, "&#34;") {
		t.Errorf("unexpected message:\n%s", msg)
	}
}

func TestFindErrorsHTMLOnly(t *testing.T) {
	// A GoNB error block without an error output still fails the cell; plain HTML does not.
	nb := mustParse(t, "h", []byte(`{"cells":[
	 {"cell_type":"code","source":"a","outputs":[{"output_type":"display_data","data":{"text/html":"<b>fine</b>"}}]},
	 {"cell_type":"code","source":"b","outputs":[{"output_type":"display_data","data":{"text/html":["<span class=\"gonb-err-location\">","x</span>"]}}]},
	 {"cell_type":"code","source":"c","outputs":[{"output_type":"stream","name":"stderr","text":"warning only"}]}]}`))
	errs := nb.findErrors()
	if len(errs) != 1 || errs[0].Cell != 2 {
		t.Errorf("want only cell 2, got %v", errs)
	}
}

func TestCountImages(t *testing.T) {
	tests := []struct {
		page string
		want int
	}{
		{``, 0},
		{`<img src="data:image/png;base64,iVBOR"><IMG alt=x SRC='data:image/jpeg;base64,/9j'>`, 2},
		{`<img src="https://example.com/a.png"><img src="a.png">`, 0},
		{`<div><svg xmlns="http://www.w3.org/2000/svg"><circle/></svg></div><svg width=1></svg>`, 2},
		{"<img\n  src=\"data:image/png;base64,AA\"\n/>", 1},
		// An animation from show.DisplayGIF (lesson 02) counts as one figure.
		{`<img src="data:image/gif;base64,R0lGODlh" alt="mean shift">`, 1},
	}
	for _, tc := range tests {
		if got := countImages(tc.page); got != tc.want {
			t.Errorf("countImages(%.50q) = %d, want %d", tc.page, got, tc.want)
		}
	}
}

func TestPostProcessAndPageErrors(t *testing.T) {
	page := `<html><head><title>x.out</title>
<script src="file:///usr/share/javascript/requirejs/require.min.js"></script>
<script src="https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config=TeX"> </script>
</head><body class="jp-Notebook"><img src="data:image/png;base64,AA"></body></html>`
	out := postProcess(page, pageInfo{Title: "A <b> title", CSS: ".x{}", Errors: 0, Quick: true})
	for _, want := range []string{"<title>A &lt;b&gt; title</title>", `<style id="slowai-style">`, ".x{}",
		`<body class="jp-Notebook">` + "\n" + `<nav class="slowai-nav">`, "quick mode", `content="0"`} {
		if !strings.Contains(out, want) {
			t.Errorf("processed page lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "require") || strings.Contains(out, "mathjax") {
		t.Errorf("require.js or MathJax script kept:\n%s", out)
	}
	if errs := pageErrors(out); len(errs) != 0 {
		t.Errorf("clean page reported errors: %v", errs)
	}
	if countImages(out) != 1 {
		t.Errorf("image lost in post-processing")
	}
	if foot := postProcess(page, pageInfo{Engine: "go engine (why)"}); !strings.Contains(foot, `<footer class="slowai-footer">Computed with the go engine (why). Set`) {
		t.Errorf("footer does not name the engine once:\n%s", foot)
	}
	bad := postProcess(page, pageInfo{Errors: 2})
	if errs := pageErrors(bad); len(errs) != 1 || !strings.Contains(errs[0], "2 failed") {
		t.Errorf("want the recorded error count, got %v", errs)
	}
	gonb := `<style>.gonb-err-location {}</style><pre>[[ Cell [3] Line 4 ]] main.go:13</pre>`
	if errs := pageErrors(gonb); len(errs) != 2 {
		t.Errorf("want GoNB block and panic trace, got %v", errs)
	}
}

func TestBuildIndex(t *testing.T) {
	b, err := buildIndex([]lessonEntry{
		{Number: "00", Name: "00_overview", Title: "Overview", Summary: "What & why.", Written: true, Page: true,
			Seconds: 95, Quick: true, Thumb: "data:image/png;base64,AAAA"},
		{Number: "05", Name: "05_convs", Title: "Convolutions"},
		{Number: "13", Name: "13_ddpm", Title: "DDPM", Summary: "Denoise.", Written: true, Page: true, Failed: true, Seconds: 12},
		{Number: "01a", Name: "01a_negative_prompts", Title: "Negative prompts", Written: true},
	}, courseParts, map[string]string{"00_overview": "foundations", "05_convs": "training", "13_ddpm": "diffusion",
		"01a_negative_prompts": "Stable Diffusion"}, "body{}")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	order := []string{">Foundations<", `href="00_overview.html"`, ">Training<", "Convolutions", ">Diffusion<",
		`href="13_ddpm.html"`, ">Stable Diffusion<", "Negative prompts"}
	last := -1
	for _, w := range order {
		i := strings.Index(s, w)
		if i < last {
			t.Fatalf("%q missing or out of order:\n%s", w, s)
		}
		last = i
	}
	for _, want := range []string{"What &amp; why.", `<img src="data:image/png;base64,AAAA"`, "rendered in 1.6 min (quick mode)",
		"failed to run", "rendered in 12 s (full mode)", "to be written", "not rendered yet", "body{}"} {
		if !strings.Contains(s, want) {
			t.Errorf("index lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, `href="05_convs.html"`) {
		t.Errorf("a lesson still to be written is linked")
	}
}

func TestRenderInfoAndFirstFigure(t *testing.T) {
	page := postProcess(`<html><head></head><body><svg></svg><img src="data:image/png;base64,AB
CD"><img src="data:image/png;base64,EF"></body></html>`, pageInfo{Quick: true, Seconds: 42.26})
	if s, q := renderInfo(page); s != 42.3 || !q {
		t.Errorf("renderInfo = %v, %v", s, q)
	}
	if f := firstFigure(page); f != "data:image/png;base64,ABCD" {
		t.Errorf("firstFigure = %q", f)
	}
}

func TestListNotebooks(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"13_ddpm.ipynb", "00_overview.ipynb", "01a_negative_prompts.ipynb", "scratch.ipynb", "1_x.ipynb", "02_y.ipynb.bak"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := listNotebooks(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if want := "00_overview.ipynb 01a_negative_prompts.ipynb 13_ddpm.ipynb"; strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
	got, _ = listNotebooks(dir, "^13_")
	if len(got) != 1 {
		t.Errorf("filter: got %v", got)
	}
}

func TestWriteFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.html")
	for _, content := range []string{"one", "two"} {
		if err := writeFileAtomic(p, []byte(content)); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != content {
			t.Errorf("got %q, want %q", b, content)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
}

func TestSummarizeLog(t *testing.T) {
	log := "I1125 18:51:49.288514   19966 main.go:187] noise\n" +
		"Traceback (most recent call last):\n  File \"x.py\", line 1\n    raise CellTimeoutError\n" +
		"nbclient.exceptions.CellTimeoutError: A cell timed out while it was being executed, after 12 seconds.\n" +
		"%%\ntime.Sleep(60*time.Second)\n"
	got := summarizeLog(log)
	if !strings.HasPrefix(got, "nbclient.exceptions.CellTimeoutError: A cell timed out") || !strings.Contains(got, "time.Sleep") {
		t.Errorf("summary should start at the exception and keep the cell:\n%s", got)
	}
	if got := summarizeLog("I1125 info\nplain failure\n"); got != "plain failure" {
		t.Errorf("without an exception, want the filtered tail, got %q", got)
	}
}
