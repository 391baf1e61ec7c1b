// Package show draws the course's pictures: grids of images, loss curves, histograms,
// scatter plots and heat maps, built with gonum/plot.
//
// Display puts a figure inline when the code runs in a GoNB notebook cell (as PNG data in
// the cell output, so an nbconvert HTML export keeps it) and otherwise writes a PNG file
// and prints its path, so the same lesson code runs from tests and the command line.
package show

import (
	"bytes"
	"fmt"
	"html"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/janpfeifer/gonb/gonbui"

	"github.com/slowai-go/course/slowai/safefile"
)

// FiguresEnv names the folder where Display writes PNG files outside a notebook.
const FiguresEnv = "SLOWAI_FIGURES"

// InNotebook reports whether output goes to a GoNB cell.
func InNotebook() bool { return gonbui.IsNotebook }

// figureCount numbers the files Display writes in this process.
var figureCount atomic.Int64

// Display shows img inline in a GoNB notebook; elsewhere it writes it as PNG to
// $SLOWAI_FIGURES (or the system temporary folder) and prints the path.
func Display(img image.Image) error {
	if gonbui.IsNotebook {
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			return fmt.Errorf("show.Display: encoding PNG: %w", err)
		}
		gonbui.DisplayPng(buf.Bytes())
		gonbui.Sync() // without it, an image shown as a cell's last statement can be lost
		return nil
	}
	dir := os.Getenv(FiguresEnv)
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("show.Display: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("slowai-%d-fig%03d.png", os.Getpid(), figureCount.Add(1)))
	if err := SavePNG(img, path); err != nil {
		return err
	}
	fmt.Println("figure:", path)
	return nil
}

// Must is for notebook cells: it displays img and panics on any error, so
// `show.Must(show.Lines(...))` is one line.
func Must(img image.Image, err error) {
	if err == nil {
		err = Display(img)
	}
	if err != nil {
		panic(err)
	}
}

// SavePNG writes img to path through a temporary file and a rename, so a reader never sees
// half a picture.
func SavePNG(img image.Image, path string) error {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return fmt.Errorf("show.SavePNG %s: encoding: %w", path, err)
	}
	if err := safefile.Write(path, buf.Bytes()); err != nil {
		return fmt.Errorf("show.SavePNG %s: %w", path, err)
	}
	return nil
}

// DisplayHTML puts HTML in a notebook cell; elsewhere it prints it as is.
func DisplayHTML(h string) {
	if gonbui.IsNotebook {
		gonbui.DisplayHtml(h)
		gonbui.Sync()
		return
	}
	fmt.Println(h)
}

// Table shows rows of cells under a header: an HTML table in a notebook, aligned plain
// text elsewhere. Handy for metrics per epoch or a model's parameter counts.
func Table(header []string, rows [][]string) {
	if gonbui.IsNotebook {
		gonbui.DisplayHtml(TableHTML(header, rows))
		gonbui.Sync()
		return
	}
	fmt.Print(TableText(header, rows))
}

// TableHTML renders a table as HTML, escaping every cell.
func TableHTML(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("<table>\n<tr>")
	for _, h := range header {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>\n")
	for _, r := range rows {
		b.WriteString("<tr>")
		for _, c := range r {
			fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>")
	return b.String()
}

// TableText renders a table as plain text with columns padded to line up.
func TableText(header []string, rows [][]string) string {
	all := append([][]string{header}, rows...)
	var widths []int
	for _, r := range all {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len([]rune(c)))
		}
	}
	var b strings.Builder
	line := func(r []string) {
		for i, c := range r {
			if i > 0 {
				b.WriteString("  ")
			}
			if i == len(r)-1 {
				b.WriteString(c)
			} else {
				b.WriteString(c + strings.Repeat(" ", widths[i]-len([]rune(c))))
			}
		}
		b.WriteString("\n")
	}
	line(header)
	sep := make([]string, len(header))
	for i := range sep {
		sep[i] = strings.Repeat("-", widths[i])
	}
	line(sep)
	for _, r := range rows {
		line(r)
	}
	return b.String()
}
