package show

import (
	"bytes"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/png"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gonum.org/v1/plot/plotutil"
)

// roundTrip encodes img as PNG through SavePNG and decodes the file, so the tests look at
// what a reader of the file would see.
func roundTrip(t *testing.T) func(image.Image, error) image.Image {
	return func(img image.Image, err error) image.Image {
		t.Helper()
		return decodeSaved(t, img, err)
	}
}

func decodeSaved(t *testing.T, img image.Image, err error) image.Image {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "fig.png")
	if err := SavePNG(img, path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out, err := png.Decode(f)
	if err != nil {
		t.Fatalf("decoding %s: %v", path, err)
	}
	return out
}

func rgb(c color.Color) [3]uint8 {
	r, g, b, _ := c.RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

// countWhere counts the pixels of img in rect for which f is true.
func countWhere(img image.Image, rect image.Rectangle, f func([3]uint8) bool) int {
	n := 0
	for y := rect.Min.Y; y < rect.Max.Y; y++ {
		for x := rect.Min.X; x < rect.Max.X; x++ {
			if f(rgb(img.At(x, y))) {
				n++
			}
		}
	}
	return n
}

func notWhite(c [3]uint8) bool { return c != [3]uint8{255, 255, 255} }

func TestGridPixels(t *testing.T) {
	const h, w = 4, 5
	// Image k is black with one white pixel at (row k, col k+1), plus a clipped -1 at
	// (0,0), a clipped 2 at (3,4) and, in image 2, a NaN at (3,0).
	imgs := make([][]float32, 3)
	for k := range imgs {
		imgs[k] = make([]float32, h*w)
		imgs[k][k*w+k+1] = 1
		imgs[k][0] = -1
		imgs[k][3*w+4] = 2
	}
	imgs[2][3*w] = float32(math.NaN())
	titles := []string{"one", "two", "three"}
	img := roundTrip(t)(Grid(imgs, h, w, 2, titles, "Known pixels"))

	l := layoutGrid(3, h, w, 2, titles, "Known pixels")
	if l.scale != 16 || l.cols != 2 || l.rows != 2 {
		t.Fatalf("layout %+v: want scale 16 (5px grown to >= 80), 2x2", l)
	}
	if b := img.Bounds(); b.Dx() != l.W || b.Dy() != l.H {
		t.Fatalf("image %v, layout says %dx%d", b, l.W, l.H)
	}
	at := func(k, r, c int) [3]uint8 {
		x, y := l.origin(k)
		return rgb(img.At(x+c*l.scale+l.scale/2, y+r*l.scale+l.scale/2))
	}
	white, black, magenta := [3]uint8{255, 255, 255}, [3]uint8{0, 0, 0}, [3]uint8{255, 0, 255}
	for k := range imgs {
		if got := at(k, k, k+1); got != white {
			t.Errorf("image %d pixel (%d,%d) = %v, want white", k, k, k+1, got)
		}
		if got := at(k, (k+1)%h, 2); got != black {
			t.Errorf("image %d pixel (%d,2) = %v, want black", k, (k+1)%h, got)
		}
		if got := at(k, 0, 0); got != black {
			t.Errorf("image %d: -1 shows as %v, want black", k, got)
		}
		if got := at(k, 3, 4); got != white {
			t.Errorf("image %d: 2 shows as %v, want white", k, got)
		}
	}
	if got := at(2, 3, 0); got != magenta {
		t.Errorf("NaN shows as %v, want magenta", got)
	}
	// The scale-up is nearest neighbour: every pixel of a scaled cell has the cell's value.
	x, y := l.origin(0)
	cell := image.Rect(x+1*l.scale, y, x+2*l.scale, y+l.scale) // image 0, pixel (0,1)
	if n := countWhere(img, cell, func(c [3]uint8) bool { return c != white }); n != 0 {
		t.Errorf("%d pixels of a white cell are not white", n)
	}
	// Title and captions are drawn: dark pixels in the bands above and under the cells.
	if n := countWhere(img, image.Rect(0, 0, l.W, l.titleH), notWhite); n < 20 {
		t.Errorf("title band has %d drawn pixels", n)
	}
	x, y = l.origin(2)
	caption := image.Rect(x-gridPad, y+l.cellH, x+l.cellW+gridPad, y+l.cellH+l.labelH)
	if n := countWhere(img, caption, notWhite); n < 10 {
		t.Errorf("caption of image 2 has %d drawn pixels", n)
	}
	// The empty fourth slot stays white.
	x, y = l.origin(3)
	if n := countWhere(img, image.Rect(x, y, x+l.cellW, y+l.cellH+l.labelH), notWhite); n != 0 {
		t.Errorf("empty slot has %d drawn pixels", n)
	}
}

func TestGridRGB(t *testing.T) {
	const h, w = 2, 2
	red := make([]float32, 3*h*w)
	blue := make([]float32, 3*h*w)
	for i := 0; i < h*w; i++ {
		red[i] = 1          // channel 0
		blue[2*h*w+i] = 0.5 // channel 2, half on
	}
	img := roundTrip(t)(GridRGB([][]float32{red, blue}, h, w, 0, nil, "Colours"))
	l := layoutGrid(2, h, w, 0, nil, "Colours")
	if l.cols != 2 || l.scale != 40 || l.labelH != 0 {
		t.Fatalf("layout %+v", l)
	}
	for k, want := range [][3]uint8{{255, 0, 0}, {0, 0, 128}} {
		x, y := l.origin(k)
		if got := rgb(img.At(x+l.cellW-1, y+l.cellH-1)); got != want {
			t.Errorf("image %d corner = %v, want %v", k, got, want)
		}
	}
}

func TestGridScale(t *testing.T) {
	for _, c := range []struct{ h, w, scale int }{{28, 28, 3}, {64, 64, 2}, {80, 80, 1}, {512, 512, 1}, {1, 100, 1}} {
		if l := layoutGrid(1, c.h, c.w, 0, nil, ""); l.scale != c.scale {
			t.Errorf("%dx%d: scale %d, want %d", c.h, c.w, l.scale, c.scale)
		}
	}
}

func TestGridErrors(t *testing.T) {
	ok := make([]float32, 4)
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"no images", second(Grid(nil, 2, 2, 0, nil, "t")), "no images"},
		{"bad size", second(Grid([][]float32{ok}, 0, 2, 0, nil, "t")), "0x2"},
		{"short image", second(Grid([][]float32{ok, ok[:3]}, 2, 2, 0, nil, "t")), "image 1 has 3 values, want 4"},
		{"rgb length", second(GridRGB([][]float32{ok}, 2, 2, 0, nil, "t")), "want 12"},
		{"titles", second(Grid([][]float32{ok}, 2, 2, 0, []string{"a", "b"}, "t")), "2 titles for 1 images"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, c.err, c.want)
		}
	}
}

func second(_ image.Image, err error) error { return err }

// colorRows returns the rows of img holding pixels of colour c.
func colorRows(img image.Image, c color.Color) map[int]int {
	want := rgb(c)
	rows := map[int]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if rgb(img.At(x, y)) == want {
				rows[y]++
			}
		}
	}
	return rows
}

func span(rows map[int]int) (lo, hi, n int) {
	lo, hi = math.MaxInt, -1
	for y, k := range rows {
		lo, hi, n = min(lo, y), max(hi, y), n+k
	}
	return
}

func TestLines(t *testing.T) {
	// Two flat lines, no names (so no legend): series 0 at y=1, series 1 at y=3.
	x := []float64{0, 1, 2, 3}
	img := roundTrip(t)(Lines("Flat", "step", "loss",
		Series{X: x, Y: []float64{1, 1, 1, 1}}, Series{Y: []float64{3, 3, 3, 3}}))
	if b := img.Bounds(); b.Dx() != 576 || b.Dy() != 384 {
		t.Fatalf("size %v, want 576x384", b)
	}
	lo0, hi0, n0 := span(colorRows(img, plotutil.Color(0)))
	lo1, hi1, n1 := span(colorRows(img, plotutil.Color(1)))
	if n0 < 100 || n1 < 50 {
		t.Fatalf("found %d and %d pixels of the series colours", n0, n1)
	}
	// A horizontal line is a thin band of rows, and y=3 is drawn above y=1.
	if hi0-lo0 > 4 || hi1-lo1 > 4 {
		t.Errorf("flat lines span rows %d..%d and %d..%d, want thin bands", lo0, hi0, lo1, hi1)
	}
	if hi1 >= lo0 {
		t.Errorf("y=3 line (rows %d..%d) is not above y=1 line (rows %d..%d)", lo1, hi1, lo0, hi0)
	}
}

func TestScatterAndHistogram(t *testing.T) {
	img := roundTrip(t)(Scatter("Points", "x", "y", Series{Name: "a", X: []float64{0, 1, 2}, Y: []float64{2, 0, 1}}))
	if _, _, n := span(colorRows(img, plotutil.Color(0))); n < 30 {
		t.Errorf("scatter: %d pixels in the series colour", n)
	}
	vals := make([]float64, 1000)
	for i := range vals {
		vals[i] = float64(i % 10)
	}
	img = roundTrip(t)(Histogram("Counts", "value", vals, 10))
	if _, _, n := span(colorRows(img, plotutil.Color(0))); n < 20000 {
		t.Errorf("histogram: %d pixels of bar fill, want a plot mostly full of equal bars", n)
	}
}

func TestHeatmap(t *testing.T) {
	// Left half low, right half high: the two halves of the data area differ in colour.
	const rows, cols = 4, 6
	m := make([]float64, rows*cols)
	for r := 0; r < rows; r++ {
		for c := 3; c < cols; c++ {
			m[r*cols+c] = 1
		}
	}
	img := roundTrip(t)(Heatmap("Halves", "x", "y", m, rows, cols))
	b := img.Bounds()
	// Sample the middle row at 30% and 80% of the width, inside the data area.
	left, right := rgb(img.At(b.Dx()*3/10, b.Dy()/2)), rgb(img.At(b.Dx()*8/10, b.Dy()/2))
	if left != [3]uint8{0, 0, 0} || right != [3]uint8{255, 255, 255} {
		t.Errorf("low half %v, high half %v: want black and white ends of the palette", left, right)
	}
	if _, err := Heatmap("bad", "x", "y", m, 5, 5); err == nil || !strings.Contains(err.Error(), "24 values for 5x5") {
		t.Errorf("size mismatch: error %v", err)
	}
}

func TestPlotErrors(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want string
	}{
		{"no series", second(Lines("t", "x", "y")), "no series"},
		{"lengths", second(Lines("t", "x", "y", Series{Name: "s", X: []float64{1}, Y: []float64{1, 2}})), `"s" has 1 x values and 2 y values`},
		{"empty", second(Scatter("t", "x", "y", Series{Name: "e"})), `"e" has no points`},
		{"nan", second(Lines("t", "x", "y", Series{Name: "n", Y: []float64{1, math.NaN()}})), "point 1 is (1, NaN)"},
		{"hist empty", second(Histogram("t", "x", nil, 3)), "no values"},
		{"hist bins", second(Histogram("t", "x", []float64{1}, 0)), "0 bins"},
		{"hist inf", second(Histogram("t", "x", []float64{1, math.Inf(1)}, 2)), "value 1 is +Inf"},
	} {
		if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", c.name, c.err, c.want)
		}
	}
}

func TestDisplayWritesFile(t *testing.T) {
	if InNotebook() {
		t.Skip("running inside GoNB")
	}
	dir := filepath.Join(t.TempDir(), "figs")
	t.Setenv(FiguresEnv, dir)
	src := image.NewGray(image.Rect(0, 0, 3, 2))
	src.SetGray(1, 1, color.Gray{Y: 200})

	r, w, _ := os.Pipe()
	stdout := os.Stdout
	os.Stdout = w
	err := Display(src)
	os.Stdout = stdout
	w.Close()
	printed, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSpace(strings.TrimPrefix(string(printed), "figure:"))
	if filepath.Dir(path) != dir {
		t.Fatalf("printed %q, want a path in %s", printed, dir)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Bounds() != src.Bounds() || rgb(got.At(1, 1)) != [3]uint8{200, 200, 200} || rgb(got.At(0, 0)) != [3]uint8{} {
		t.Errorf("file holds %v with (1,1)=%v", got.Bounds(), rgb(got.At(1, 1)))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("%s holds %d files, want just the figure", dir, len(ents))
	}
}

func TestSavePNGError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "f.png")
	err := SavePNG(image.NewGray(image.Rect(0, 0, 1, 1)), path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("error %v should name %s", err, path)
	}
}

func TestTable(t *testing.T) {
	h := []string{"epoch", "loss"}
	rows := [][]string{{"0", "2.3"}, {"10", "0.25"}}
	want := "epoch  loss\n-----  ----\n0      2.3\n10     0.25\n"
	if got := TableText(h, rows); got != want {
		t.Errorf("TableText:\n%s\nwant:\n%s", got, want)
	}
	if got := TableHTML([]string{"a<b"}, [][]string{{"x&y"}}); got != "<table>\n<tr><th>a&lt;b</th></tr>\n<tr><td>x&amp;y</td></tr>\n</table>" {
		t.Errorf("TableHTML = %q", got)
	}
}

func TestBars(t *testing.T) {
	img, err := Bars("shares", "class", "%", []string{"a", "b", "c"}, []float64{10, 60, 30})
	if err != nil || img.Bounds().Dx() == 0 {
		t.Fatalf("Bars: %v", err)
	}
	if _, err := Bars("bad", "x", "y", []string{"a"}, []float64{1, 2}); err == nil {
		t.Error("mismatched labels accepted")
	}
}

func TestGIF(t *testing.T) {
	frames := make([]image.Image, 3)
	for i := range frames {
		img := image.NewRGBA(image.Rect(0, 0, 8, 6))
		draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
		img.Set(i, 2, color.Black) // a black dot moving right
		frames[i] = img
	}
	b, err := GIF(frames, 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	g, err := gif.DecodeAll(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Image) != 3 || !slices.Equal(g.Delay, []int{20, 20, 80}) {
		t.Fatalf("%d frames, delays %v; want 3 frames, [20 20 80]", len(g.Image), g.Delay)
	}
	for i, f := range g.Image {
		for x := 0; x < 8; x++ {
			want := [3]uint8{255, 255, 255}
			if x == i {
				want = [3]uint8{0, 0, 0}
			}
			if got := rgb(f.At(x, 2)); got != want {
				t.Errorf("frame %d pixel (%d,2) = %v, want %v", i, x, got, want)
			}
		}
	}
	if _, err := GIF([]image.Image{frames[0], image.NewRGBA(image.Rect(0, 0, 2, 2))}, time.Second); err == nil {
		t.Error("frames of different sizes gave no error")
	}
	tag := GIFTag(b, `a "dot"`)
	if !strings.HasPrefix(tag, `<img src="data:image/gif;base64,R0lGOD`) || !strings.Contains(tag, `alt="a &#34;dot&#34;"`) {
		t.Errorf("GIFTag = %.80s...", tag)
	}
}

func TestDisplayGIFWritesFile(t *testing.T) {
	if InNotebook() {
		t.Skip("running inside GoNB")
	}
	dir := filepath.Join(t.TempDir(), "figs")
	t.Setenv(FiguresEnv, dir)
	b, err := GIF([]image.Image{image.NewGray(image.Rect(0, 0, 2, 2))}, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r, w, _ := os.Pipe()
	stdout := os.Stdout
	os.Stdout = w
	err = DisplayGIF(b, "x")
	os.Stdout = stdout
	w.Close()
	printed, _ := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimSpace(strings.TrimPrefix(string(printed), "figure:"))
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, b) || filepath.Ext(path) != ".gif" {
		t.Errorf("printed %q; file read %v, equal %v", printed, err, bytes.Equal(got, b))
	}
}
