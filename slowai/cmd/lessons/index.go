package main

import (
	"bytes"
	"fmt"
	"html/template"
	"regexp"
	"strconv"
	"strings"
)

// lessonEntry is one lesson on the index page (the course's front page).
type lessonEntry struct {
	Number  string
	Name    string // file stem, e.g. "13_ddpm"
	Title   string
	Summary string
	Written bool         // the notebook exists
	Page    bool         // its page has been rendered
	Failed  bool         // a cell failed: the page exists but shows the error
	Seconds float64      // how long rendering took
	Quick   bool         // rendered in quick mode
	Thumb   template.URL // the page's first figure, a data: URI ("" if none)
}

// Href is the page's file name, relative to index.html.
func (e lessonEntry) Href() string { return e.Name + ".html" }

// Took says how long the page took to render and in which mode.
func (e lessonEntry) Took() string {
	mode := "full mode"
	if e.Quick {
		mode = "quick mode"
	}
	d := e.Seconds
	switch {
	case d < 90:
		return fmt.Sprintf("rendered in %.0f s (%s)", d, mode)
	default:
		return fmt.Sprintf("rendered in %.1f min (%s)", d/60, mode)
	}
}

// indexPart is one part of the course on the index page.
type indexPart struct {
	Name    string
	Lessons []lessonEntry
}

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>slowai-go: from pixels to Stable Diffusion, in Go</title>
<style id="slowai-style">
{{.CSS}}
</style>
</head>
<body class="slowai-index">
<main>
<h1>slowai-go: from pixels to Stable Diffusion, in Go</h1>
<p>A course that builds, in Go, everything between a handwritten digit and a text-to-image diffusion model.
Each lesson is a GoNB notebook in <code>notebooks/</code>, executed and rendered into these pages by <code>make lessons</code>;
every page is a single file that works offline. Lessons not written yet are listed in grey.</p>
{{- range .Parts}}
<h2 class="slowai-part">{{.Name}}</h2>
<ol class="slowai-lessons">
{{- range .Lessons}}
{{- if .Page}}
<li class="slowai-lesson{{if .Failed}} slowai-lesson-failed{{end}}">
<a class="slowai-thumb" href="{{.Href}}">{{if .Thumb}}<img src="{{.Thumb}}" alt="first figure of lesson {{.Number}}">{{end}}</a>
<div><span class="slowai-num">{{.Number}}</span> <a href="{{.Href}}">{{.Title}}</a>
{{if .Summary}}<p class="slowai-summary">{{.Summary}}</p>{{end}}
<p class="slowai-meta">{{if .Failed}}<strong class="slowai-failed">failed to run</strong> (the page shows the error) · {{else}}ran without errors · {{end}}{{.Took}}</p></div>
</li>
{{- else if .Written}}
<li class="slowai-lesson slowai-unrendered"><span class="slowai-thumb"></span><div><span class="slowai-num">{{.Number}}</span> {{.Title}}
<p class="slowai-meta">written, not rendered yet (<code>make lessons ONLY={{.Name}}</code>)</p></div></li>
{{- else}}
<li class="slowai-lesson slowai-todo"><span class="slowai-thumb"></span><div><span class="slowai-num">{{.Number}}</span> {{.Title}}
<p class="slowai-meta">to be written</p></div></li>
{{- end}}
{{- end}}
</ol>
{{- end}}
</main>
</body>
</html>
`))

// buildIndex writes the course's front page: the lessons grouped by part.
func buildIndex(entries []lessonEntry, parts []string, partOf map[string]string, css string) ([]byte, error) {
	var out []indexPart
	for _, p := range parts {
		ip := indexPart{Name: partTitle(p)}
		for _, e := range entries {
			if partOf[e.Name] == p {
				ip.Lessons = append(ip.Lessons, e)
			}
		}
		if len(ip.Lessons) > 0 {
			out = append(out, ip)
		}
	}
	var buf bytes.Buffer
	err := indexTmpl.Execute(&buf, struct {
		Parts []indexPart
		CSS   template.CSS
	}{out, template.CSS(css)})
	return buf.Bytes(), err
}

func partTitle(p string) string {
	if p == "" {
		return p
	}
	return strings.ToUpper(p[:1]) + p[1:]
}

var (
	renderMetaRe = regexp.MustCompile(`<meta name="slowai-render" content="([0-9.]+) (quick|full)">`)
	firstImgRe   = regexp.MustCompile(`(?is)<img\b[^>]*\bsrc\s*=\s*"(data:image/(?:png|jpeg|gif);base64,[A-Za-z0-9+/=\s]+)"`)
	titleNumRe   = regexp.MustCompile(`^[0-9]{2}[0-9a-z]*\s*·\s*`)
)

// renderInfo reads back what renderOne recorded in a page: seconds and mode.
func renderInfo(page string) (seconds float64, quick bool) {
	if m := renderMetaRe.FindStringSubmatch(page); m != nil {
		seconds, _ = strconv.ParseFloat(m[1], 64)
		quick = m[2] == "quick"
	}
	return
}

// firstFigure returns the page's first embedded raster figure as a data: URI, or "".
func firstFigure(page string) template.URL {
	if m := firstImgRe.FindStringSubmatch(page); m != nil {
		return template.URL(strings.Join(strings.Fields(m[1]), ""))
	}
	return ""
}
