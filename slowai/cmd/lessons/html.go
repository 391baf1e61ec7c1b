package main

import (
	"fmt"
	"html"
	"regexp"
	"strconv"
	"strings"
)

var (
	imgTagRe   = regexp.MustCompile(`(?is)<img\b[^>]*>`)
	dataSrcRe  = regexp.MustCompile(`(?is)\bsrc\s*=\s*["']?\s*data:`)
	svgTagRe   = regexp.MustCompile(`(?i)<svg\b`)
	scriptRe   = regexp.MustCompile(`(?is)<script\b[^>]*\bsrc="([^"]*)"[^>]*>\s*</script>\s*`)
	mathJaxRe  = regexp.MustCompile(`(?is)<!-- Load mathjax -->|<script type="text/x-mathjax-config">.*?</script>\s*|<!-- MathJax configuration -->|<!-- End of mathjax configuration -->`)
	titleRe    = regexp.MustCompile(`(?is)<title>.*?</title>`)
	errMetaRe  = regexp.MustCompile(`<meta name="slowai-errors" content="(\d+)">`)
	bodyOpenRe = regexp.MustCompile(`(?is)<body\b[^>]*>`)
)

// countImages counts the figures a rendered page shows without fetching anything: <img> tags
// whose source is an embedded data: URI (PNG output of gonbui.DisplayImage) and inline <svg>
// elements (gonbui.DisplaySVG).
func countImages(page string) int {
	n := 0
	for _, tag := range imgTagRe.FindAllString(page, -1) {
		if dataSrcRe.MatchString(tag) {
			n++
		}
	}
	return n + len(svgTagRe.FindAllStringIndex(page, -1)) - strings.Count(page, mathSVGMark)
}

// pageErrors lists the signs of a failed cell in a rendered page: the error count the renderer
// recorded, GoNB's error block, or a Go panic mapped to a cell line.
func pageErrors(page string) []string {
	var found []string
	if m := errMetaRe.FindStringSubmatch(page); m != nil {
		if n, _ := strconv.Atoi(m[1]); n > 0 {
			found = append(found, fmt.Sprintf("renderer recorded %d failed cell(s)", n))
		}
	}
	if strings.Contains(page, `class="`+gonbErrorMarker) || strings.Contains(page, "."+gonbErrorMarker+"location") {
		found = append(found, "GoNB error block (compile or run error)")
	}
	if strings.Contains(page, "[[ Cell [") {
		found = append(found, "Go panic stack trace")
	}
	return found
}

// pageInfo is what postProcess adds to nbconvert's HTML.
type pageInfo struct {
	Title   string
	CSS     string  // contents of assets/lesson.css, inlined so the page stays one file
	Errors  int     // failed cells, recorded for -check
	Quick   bool    // rendered with SLOWAI_QUICK=1
	Engine  string  // the compute engine the cells ran on and why, named once in the footer
	Seconds float64 // how long executing and converting took, for the index
}

// postProcess makes nbconvert's page self-contained and part of the course: it drops external
// scripts (MathJax, since formulas are typeset at build time by typesetMath, and require.js,
// which is only for widgets) and MathJax's configuration, sets the title, inlines the course
// stylesheet and adds a link back to the index and a footer naming the engine.
func postProcess(page string, info pageInfo) string {
	page = scriptRe.ReplaceAllString(page, "")
	page = mathJaxRe.ReplaceAllString(page, "")
	if info.Title != "" {
		page = titleRe.ReplaceAllLiteralString(page, "<title>"+html.EscapeString(info.Title)+"</title>")
	}
	mode := "full"
	if info.Quick {
		mode = "quick"
	}
	head := fmt.Sprintf("<meta name=\"slowai-errors\" content=\"%d\">\n<meta name=\"slowai-render\" content=\"%.1f %s\">\n",
		info.Errors, info.Seconds, mode)
	if info.CSS != "" {
		head += "<style id=\"slowai-style\">\n" + info.CSS + "\n</style>\n"
	}
	if i := strings.Index(strings.ToLower(page), "</head>"); i >= 0 {
		page = page[:i] + head + page[i:]
	} else {
		page = head + page
	}
	nav := `<nav class="slowai-nav"><a href="index.html">&larr; All lessons</a>`
	if info.Quick {
		nav += ` <span class="slowai-quick">rendered in quick mode (SLOWAI_QUICK=1): fewer steps, smaller data</span>`
	}
	nav += "</nav>\n"
	if loc := bodyOpenRe.FindStringIndex(page); loc != nil {
		page = page[:loc[1]] + "\n" + nav + page[loc[1]:]
	}
	if info.Engine != "" {
		foot := `<footer class="slowai-footer">Computed with the ` + html.EscapeString(info.Engine) +
			`. Set <code>SLOWAI_BACKEND</code> to choose another; <code>SLOWAI_VERBOSE=1</code> prints the choice in a terminal.</footer>` + "\n"
		if i := strings.LastIndex(strings.ToLower(page), "</body>"); i >= 0 {
			page = page[:i] + foot + page[i:]
		} else {
			page += foot
		}
	}
	return page
}
