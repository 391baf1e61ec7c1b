package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// notebook is the part of an .ipynb file (nbformat 4) that rendering and checking need.
type notebook struct {
	Metadata struct {
		Slowai struct {
			// MinImages is how many images the rendered page must show at least; a lesson
			// declares it so CI notices when a figure silently stops being drawn.
			MinImages int `json:"min_images"`
		} `json:"slowai"`
	} `json:"metadata"`
	Cells []cell `json:"cells"`
}

type cell struct {
	CellType       string   `json:"cell_type"`
	ExecutionCount *int     `json:"execution_count"`
	Source         multiStr `json:"source"`
	Outputs        []output `json:"outputs"`
}

type output struct {
	OutputType string                     `json:"output_type"`
	Name       string                     `json:"name"` // stream name: stdout or stderr
	Text       multiStr                   `json:"text"`
	Data       map[string]json.RawMessage `json:"data"`
	Ename      string                     `json:"ename"`
	Evalue     string                     `json:"evalue"`
	Traceback  []string                   `json:"traceback"`
}

// multiStr reads nbformat's "multiline string", which is either a string or a list of lines.
type multiStr string

func (m *multiStr) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*m = multiStr(s)
		return nil
	}
	var lines []string
	if err := json.Unmarshal(b, &lines); err != nil {
		return fmt.Errorf("expected a string or a list of strings, got %.40s", b)
	}
	*m = multiStr(strings.Join(lines, ""))
	return nil
}

// parseNotebook decodes an .ipynb file; name is only used in the error message.
func parseNotebook(name string, b []byte) (*notebook, error) {
	var nb notebook
	if err := json.Unmarshal(b, &nb); err != nil {
		return nil, fmt.Errorf("%s: not a Jupyter notebook (nbformat 4 JSON): %w", name, err)
	}
	return &nb, nil
}

var headingRe = regexp.MustCompile(`^#{1,6}\s+(.*?)\s*#*\s*$`)

// titleAndSummary returns the text of the first markdown heading and the first paragraph of
// prose after it (in the same or a later markdown cell), which the index shows as the
// lesson's one-line summary. Either may be empty.
func (nb *notebook) titleAndSummary() (title, summary string) {
	for _, c := range nb.Cells {
		if c.CellType != "markdown" {
			continue
		}
		var para []string
		flush := func() bool {
			if title != "" && len(para) > 0 {
				summary = plainMarkdown(strings.Join(para, " "))
				return true
			}
			para = para[:0]
			return false
		}
		for _, line := range strings.Split(string(c.Source), "\n") {
			line = strings.TrimSpace(line)
			if m := headingRe.FindStringSubmatch(line); m != nil {
				if flush() {
					return
				}
				if title == "" {
					title = plainMarkdown(m[1])
				}
				continue
			}
			if line == "" || strings.HasPrefix(line, "<") || strings.HasPrefix(line, "```") || strings.HasPrefix(line, "!") {
				if flush() {
					return
				}
				continue
			}
			if title != "" {
				para = append(para, line)
			}
		}
		if flush() {
			return
		}
	}
	return
}

var (
	mdLinkRe   = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	mdEmphRe   = regexp.MustCompile(`(\*\*|__|\*|_)([^*_]+)(\*\*|__|\*|_)`)
	mdSpacesRe = regexp.MustCompile(`\s+`)
)

// plainMarkdown drops the inline markup that would look odd in the index (links, emphasis).
func plainMarkdown(s string) string {
	s = mdLinkRe.ReplaceAllString(s, "$1")
	s = mdEmphRe.ReplaceAllString(s, "$2")
	return strings.TrimSpace(mdSpacesRe.ReplaceAllString(s, " "))
}

// cellError is one failed cell of an executed notebook.
type cellError struct {
	Cell    int    // 1-based position among all cells, as Jupyter shows them
	In      int    // execution count (GoNB's "Cell[N]" in error messages); 0 if not run
	First   string // first line of code in the cell (skipping %% and magics), to find it
	Message string // the error text: ename/evalue, stderr and GoNB's error block, trimmed
}

func (e cellError) String() string {
	return fmt.Sprintf("cell %d (In [%d], %q):\n%s", e.Cell, e.In, e.First, indent(e.Message, "    "))
}

var (
	tagRe        = regexp.MustCompile(`(?s)<style.*?</style>|<[^>]+>`)
	blankLinesRe = regexp.MustCompile(`\n\s*\n+`)
)

// gonbErrorMarker is a CSS class GoNB puts on its compile/run error blocks.
const gonbErrorMarker = "gonb-err-"

// findErrors lists the cells of an executed notebook that failed: an "error" output (what
// nbconvert itself stops on), or GoNB's HTML error block, which GoNB sends alongside it.
func (nb *notebook) findErrors() []cellError {
	var errs []cellError
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		failed := false
		var msg []string
		for _, o := range c.Outputs {
			switch o.OutputType {
			case "error":
				failed = true
				msg = append(msg, strings.TrimSpace(o.Ename+": "+o.Evalue))
			case "stream":
				if o.Name == "stderr" {
					msg = append(msg, strings.TrimSpace(string(o.Text)))
				}
			case "display_data", "execute_result":
				if raw, ok := o.Data["text/html"]; ok {
					var h multiStr
					if json.Unmarshal(raw, &h) == nil && strings.Contains(string(h), gonbErrorMarker) {
						failed = true
						msg = append(msg, htmlToText(string(h)))
					}
				}
			}
		}
		if !failed {
			continue
		}
		in := 0
		if c.ExecutionCount != nil {
			in = *c.ExecutionCount
		}
		errs = append(errs, cellError{Cell: i + 1, In: in, First: firstCodeLine(string(c.Source)),
			Message: tail(strings.Join(msg, "\n"), 2000)})
	}
	return errs
}

// htmlToText turns GoNB's HTML error block back into readable text for the terminal.
func htmlToText(h string) string {
	t := tagRe.ReplaceAllString(h, "")
	r := strings.NewReplacer("&#34;", `"`, "&quot;", `"`, "&#39;", "'", "&lt;", "<", "&gt;", ">", "&amp;", "&")
	t = r.Replace(t)
	return strings.TrimSpace(blankLinesRe.ReplaceAllString(t, "\n"))
}

// tail keeps the last n bytes of s: the end of a long error is where the cause is.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) <= n {
		return s
	}
	return "..." + s[len(s)-n:]
}

// firstCodeLine returns the first line of a cell that says what it does: not blank, not the
// %% separator, not a GoNB magic or shell line.
func firstCodeLine(src string) string {
	lines := strings.Split(src, "\n")
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "%") || strings.HasPrefix(t, "!") {
			continue
		}
		return t
	}
	if len(lines) > 0 {
		return strings.TrimSpace(lines[0])
	}
	return ""
}

func indent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}
