package main

import (
	"bytes"
	"html/template"
)

// lessonEntry is one row of lessons/index.html.
type lessonEntry struct {
	Name    string // file stem, e.g. "13_ddpm"
	Title   string
	Summary string
	Failed  bool // a cell failed: the page exists but shows the error
}

// Href is the page's file name, relative to index.html.
func (e lessonEntry) Href() string { return e.Name + ".html" }

var indexTmpl = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>slowai-go: lessons</title>
<style id="slowai-style">
{{.CSS}}
</style>
</head>
<body class="slowai-index">
<main>
<h1>slowai-go: from pixels to Stable Diffusion, in Go</h1>
<p>Each lesson is a GoNB notebook in <code>notebooks/</code>, executed and rendered by <code>make lessons</code>.{{if .Quick}}
<span class="slowai-quick">These pages were rendered in quick mode (SLOWAI_QUICK=1): fewer steps, smaller data.</span>{{end}}</p>
<ol class="slowai-lessons">
{{- range .Entries}}
<li><a href="{{.Href}}">{{.Title}}</a> <code class="slowai-name">{{.Name}}</code>{{if .Failed}} <strong class="slowai-failed">(failed to run)</strong>{{end}}{{if .Summary}}<br><span class="slowai-summary">{{.Summary}}</span>{{end}}</li>
{{- end}}
</ol>
</main>
</body>
</html>
`))

// buildIndex writes the course's table of contents, in the order given.
func buildIndex(entries []lessonEntry, css string, quick bool) ([]byte, error) {
	for i := range entries {
		if entries[i].Title == "" {
			entries[i].Title = entries[i].Name
		}
	}
	var buf bytes.Buffer
	err := indexTmpl.Execute(&buf, struct {
		Entries []lessonEntry
		CSS     template.CSS
		Quick   bool
	}{entries, template.CSS(css), quick})
	return buf.Bytes(), err
}
