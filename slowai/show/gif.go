package show

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html"
	"image"
	"image/color/palette"
	"image/draw"
	"image/gif"
	"os"
	"path/filepath"
	"time"

	"github.com/slowai-go/course/slowai/safefile"
)

// GIF encodes frames (plots of equal size) as a looping animated GIF, each frame shown for
// delay. Plots use few colours, so the fixed Plan 9 palette without dithering keeps them
// crisp; the last frame is held four times as long so the end state is readable.
func GIF(frames []image.Image, delay time.Duration) ([]byte, error) {
	if len(frames) == 0 {
		return nil, fmt.Errorf("show.GIF: no frames")
	}
	b := frames[0].Bounds()
	anim := &gif.GIF{}
	for i, f := range frames {
		if f.Bounds() != b {
			return nil, fmt.Errorf("show.GIF: frame %d is %v, frame 0 is %v; want equal sizes", i, f.Bounds(), b)
		}
		pm := image.NewPaletted(b, palette.Plan9)
		draw.Draw(pm, b, f, b.Min, draw.Src)
		d := int(delay / (10 * time.Millisecond)) // GIF delays are in hundredths of a second
		if i == len(frames)-1 {
			d *= 4
		}
		anim.Image = append(anim.Image, pm)
		anim.Delay = append(anim.Delay, d)
	}
	var buf bytes.Buffer
	if err := gif.EncodeAll(&buf, anim); err != nil {
		return nil, fmt.Errorf("show.GIF: %w", err)
	}
	return buf.Bytes(), nil
}

// GIFTag is an HTML <img> holding the GIF as a data: URI, so a rendered page carries it.
func GIFTag(gifData []byte, alt string) string {
	return fmt.Sprintf(`<img src="data:image/gif;base64,%s" alt="%s">`,
		base64.StdEncoding.EncodeToString(gifData), html.EscapeString(alt))
}

// DisplayGIF shows an animated GIF inline in a notebook; elsewhere it writes it to
// $SLOWAI_FIGURES (or the temporary folder) and prints the path.
func DisplayGIF(gifData []byte, alt string) error {
	if InNotebook() {
		DisplayHTML(GIFTag(gifData, alt))
		return nil
	}
	dir := os.Getenv(FiguresEnv)
	if dir == "" {
		dir = os.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("show.DisplayGIF: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("slowai-%d-fig%03d.gif", os.Getpid(), figureCount.Add(1)))
	if err := safefile.Write(path, gifData); err != nil {
		return fmt.Errorf("show.DisplayGIF: %w", err)
	}
	fmt.Println("figure:", path)
	return nil
}
