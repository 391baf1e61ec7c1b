package main

// Formulas are typeset when the page is built, not when it is read: KaTeX (an npm package that
// `make setup` installs into slowai/tools/katex) turns each $...$ and $$...$$ of the markdown
// cells into HTML, and its stylesheet goes into the page with its fonts as data: URIs. The page
// then shows formulas offline, with no script.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

var flagKatex = flag.String("katex", "slowai/tools/katex", "folder holding render.js and node_modules/katex (make setup)")

// mathSpan is one formula found in a page: page[Start:End] is its source, delimiters included.
type mathSpan struct {
	Start, End int
	TeX        string
	Display    bool
}

// skipElementRe matches the elements whose text is never prose: code, scripts, styles, images.
var skipElementRe = regexp.MustCompile(`(?is)<(script|style|pre|code|svg|textarea)\b[^>]*>.*?</(script|style|pre|code|svg|textarea)\s*>|<[^>]*>`)

// findMath lists the formulas in the prose of an nbconvert page (the text between tags, outside
// code, scripts and styles). $$...$$ is display math; $...$ is inline when the opening $ is not
// followed by a space and the closing one is not preceded by a space nor followed by a digit
// (so "costs $5 and $10" is not a formula). \$ is a literal dollar sign.
func findMath(page string) []mathSpan {
	var spans []mathSpan
	pos := 0
	scanText := func(start, end int) {
		t := page[start:end]
		for i := 0; i < len(t); i++ {
			switch {
			case t[i] == '\\' && i+1 < len(t) && t[i+1] == '$':
				i++
			case strings.HasPrefix(t[i:], "$$"):
				j := strings.Index(t[i+2:], "$$")
				if j < 0 {
					return
				}
				spans = append(spans, mathSpan{Start: start + i, End: start + i + 2 + j + 2, TeX: t[i+2 : i+2+j], Display: true})
				i += 2 + j + 1
			case t[i] == '$':
				if i+1 >= len(t) || isSpace(t[i+1]) {
					continue
				}
				j := i + 1
				for ; j < len(t); j++ {
					if t[j] == '\\' {
						j++
						continue
					}
					if t[j] == '$' || strings.HasPrefix(t[j:], "\n\n") {
						break
					}
				}
				if j >= len(t) || t[j] != '$' || isSpace(t[j-1]) || (j+1 < len(t) && t[j+1] >= '0' && t[j+1] <= '9') {
					continue
				}
				spans = append(spans, mathSpan{Start: start + i, End: start + j + 1, TeX: t[i+1 : j]})
				i = j
			}
		}
	}
	for _, loc := range skipElementRe.FindAllStringIndex(page, -1) {
		scanText(pos, loc[0])
		pos = loc[1]
	}
	scanText(pos, len(page))
	return spans
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// katexResult is what render.js answers for one formula.
type katexResult struct {
	HTML  string `json:"html"`
	Error string `json:"error"`
}

// typesetMath replaces every formula of page by KaTeX's HTML and adds KaTeX's stylesheet with
// its fonts inline. A formula KaTeX cannot read is an error naming it.
func typesetMath(page, katexDir string) (string, error) {
	spans := findMath(page)
	if len(spans) > 0 {
		type item struct {
			TeX     string `json:"tex"`
			Display bool   `json:"display"`
		}
		items := make([]item, len(spans))
		for i, s := range spans {
			items[i] = item{TeX: html.UnescapeString(s.TeX), Display: s.Display}
		}
		in, err := json.Marshal(items)
		if err != nil {
			return "", err
		}
		script := filepath.Join(katexDir, "render.js")
		if _, err := os.Stat(filepath.Join(katexDir, "node_modules", "katex", "package.json")); err != nil {
			return "", fmt.Errorf("KaTeX is not installed in %s (run `make setup`): %w", katexDir, err)
		}
		node, err := exec.LookPath("node")
		if err != nil {
			return "", errors.New("node not found: formulas are typeset at build time with KaTeX (run `make setup`)")
		}
		cmd := exec.Command(node, script)
		cmd.Stdin = bytes.NewReader(in)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("typesetting formulas with %s: %w\n%s", script, err, tail(stderr.String(), 2000))
		}
		var res []katexResult
		if err := json.Unmarshal(out, &res); err != nil || len(res) != len(spans) {
			return "", fmt.Errorf("typesetting formulas: %s answered %d results for %d formulas (%v)", script, len(res), len(spans), err)
		}
		var b strings.Builder
		prev := 0
		var bad []string
		for i, s := range spans {
			b.WriteString(unescapeDollars(page[prev:s.Start]))
			if res[i].Error != "" {
				bad = append(bad, fmt.Sprintf("%q: %s", items[i].TeX, res[i].Error))
				b.WriteString(page[s.Start:s.End])
			} else if s.Display {
				b.WriteString(`<div class="slowai-math-display">` + markMathSVG(res[i].HTML) + `</div>`)
			} else {
				b.WriteString(markMathSVG(res[i].HTML))
			}
			prev = s.End
		}
		b.WriteString(unescapeDollars(page[prev:]))
		if len(bad) > 0 {
			return "", fmt.Errorf("KaTeX cannot typeset %d formula(s):\n  %s", len(bad), strings.Join(bad, "\n  "))
		}
		page = b.String()
	}
	css, err := katexCSS(katexDir)
	if err != nil {
		return "", err
	}
	style := "<style id=\"slowai-katex\">\n" + css + "\n</style>\n"
	if i := strings.Index(strings.ToLower(page), "</head>"); i >= 0 {
		return page[:i] + style + page[i:], nil
	}
	return style + page, nil
}

// mathSVGMark is put on the <svg> elements KaTeX draws parts of formulas with (square roots, wide
// accents), so countImages does not take them for figures.
const mathSVGMark = `<svg data-slowai-math=""`

func markMathSVG(h string) string { return strings.ReplaceAll(h, "<svg", mathSVGMark) }

// unescapeDollars turns markdown's \$ back into $ in prose (outside tags it is only text).
func unescapeDollars(s string) string {
	if !strings.Contains(s, `\$`) {
		return s
	}
	var b strings.Builder
	pos := 0
	for _, loc := range skipElementRe.FindAllStringIndex(s, -1) {
		b.WriteString(strings.ReplaceAll(s[pos:loc[0]], `\$`, "$"))
		b.WriteString(s[loc[0]:loc[1]])
		pos = loc[1]
	}
	b.WriteString(strings.ReplaceAll(s[pos:], `\$`, "$"))
	return b.String()
}

var katexFontRe = regexp.MustCompile(`src:url\(fonts/([A-Za-z0-9_-]+\.woff2)\) format\("woff2"\)(?:,url\([^)]*\) format\("[a-z]+"\))*`)

// katexCSS is KaTeX's stylesheet with each font as a woff2 data: URI (every browser that can
// show the page reads woff2; the woff and ttf fallbacks would only make it larger).
func katexCSS(katexDir string) (string, error) {
	dist := filepath.Join(katexDir, "node_modules", "katex", "dist")
	b, err := os.ReadFile(filepath.Join(dist, "katex.min.css"))
	if err != nil {
		return "", fmt.Errorf("KaTeX stylesheet missing (run `make setup`): %w", err)
	}
	var ferr error
	css := katexFontRe.ReplaceAllStringFunc(string(b), func(m string) string {
		name := katexFontRe.FindStringSubmatch(m)[1]
		font, err := os.ReadFile(filepath.Join(dist, "fonts", name))
		if err != nil {
			ferr = err
			return m
		}
		return `src:url(data:font/woff2;base64,` + base64.StdEncoding.EncodeToString(font) + `) format("woff2")`
	})
	if ferr != nil {
		return "", fmt.Errorf("KaTeX font missing (run `make setup`): %w", ferr)
	}
	if strings.Contains(css, "url(fonts/") {
		return "", fmt.Errorf("KaTeX stylesheet in %s refers to fonts this renderer does not inline", dist)
	}
	return css, nil
}

// remoteRefRe finds what a browser would fetch from the network: scripts, images, stylesheets
// and CSS resources with an http(s) address.
var remoteRefRe = regexp.MustCompile(`(?i)<(?:script|img|iframe|source|video|audio)\b[^>]*\bsrc\s*=\s*["']?\s*(?:https?:)?//|<link\b[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import\s`)

// remoteRefs returns the remote resources a page would load (none, for a page that works offline).
func remoteRefs(page string) []string {
	var out []string
	for _, loc := range remoteRefRe.FindAllStringIndex(page, -1) {
		out = append(out, page[loc[0]:min(len(page), loc[1]+60)])
	}
	return out
}
