package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFindMath(t *testing.T) {
	page := `<p>a $x$ b $$y = 1$$ costs $5 and $10; \$3 <code>$z$</code> $ not $ <span title="$q$">$w_1$</span></p><pre>$HOME$</pre>`
	var got []string
	for _, m := range findMath(page) {
		got = append(got, m.TeX)
		if page[m.Start] != '$' || page[m.End-1] != '$' {
			t.Errorf("span %q does not cover its delimiters", page[m.Start:m.End])
		}
	}
	if want := "x|y = 1|w_1"; strings.Join(got, "|") != want {
		t.Errorf("findMath = %q, want %q", strings.Join(got, "|"), want)
	}
	if d := findMath(`<p>$$a$$</p>`); len(d) != 1 || !d[0].Display {
		t.Errorf("display math: %+v", d)
	}
}

// A page as nbconvert writes it, with an inline and a display formula and MathJax from a CDN:
// after typesetting and post-processing no TeX delimiters remain and nothing remote is loaded.
// It needs KaTeX (make setup); CI, which runs make setup first, never skips it.
func TestTypesetMathOffline(t *testing.T) {
	katexDir := filepath.Join("..", "..", "tools", "katex")
	if _, err := os.Stat(filepath.Join(katexDir, "node_modules", "katex")); err != nil && os.Getenv("CI") == "" {
		t.Skipf("KaTeX not installed (make setup): %v", err)
	}
	raw, err := os.ReadFile(filepath.Join("testdata", "math_page.html"))
	if err != nil {
		t.Fatal(err)
	}
	if refs := remoteRefs(string(raw)); len(refs) != 1 {
		t.Fatalf("the fixture should load MathJax remotely, found %v", refs)
	}
	typeset, err := typesetMath(string(raw), katexDir)
	if err != nil {
		t.Fatal(err)
	}
	page := postProcess(typeset, pageInfo{Title: "m"})
	if m := findMath(page); len(m) != 0 {
		t.Errorf("TeX left in the page: %q", page[m[0].Start:m[0].End])
	}
	if refs := remoteRefs(page); len(refs) != 0 {
		t.Errorf("the page loads remote resources: %v", refs)
	}
	for _, want := range []string{`class="katex"`, `class="katex-display"`, "data:font/woff2;base64,", "Price $5 and $10",
		"<pre>echo $HOME and $PATH$</pre>", `href="https://example.org/"`} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if n := countImages(page); n != 0 {
		t.Errorf("countImages counts %d figure(s) in a page of formulas only", n)
	}
	if strings.Contains(strings.ToLower(page), "mathjax") {
		t.Errorf("MathJax still referenced")
	}
	if out := os.Getenv("SLOWAI_MATH_PAGE"); out != "" { // for a look in a browser
		_ = os.WriteFile(out, []byte(page), 0o644)
	}
	// A formula KaTeX cannot read is an error that names it.
	if _, err := typesetMath(`<p>$\frac{1$</p>`, katexDir); err == nil || !strings.Contains(err.Error(), `\\frac{1`) {
		t.Errorf("bad TeX: want an error naming it, got %v", err)
	}
}
