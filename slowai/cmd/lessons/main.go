// Command lessons executes the course notebooks with Jupyter's nbconvert and the GoNB kernel and
// renders each to a self-contained HTML page under lessons/, plus lessons/index.html.
//
//	go run ./slowai/cmd/lessons            # render every notebooks/NN_*.ipynb
//	go run ./slowai/cmd/lessons -run 13_   # only notebooks whose name matches
//	go run ./slowai/cmd/lessons -check     # verify the rendered pages (CI)
//
// A notebook fails when any cell fails (a compile error, a panic, a non-zero exit) or when its
// page shows fewer images than the notebook's metadata "slowai": {"min_images": N} asks for. All
// notebooks are rendered even if one fails, and the command exits non-zero naming each failure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/slowai-go/course/slowai/backend"
	"github.com/slowai-go/course/slowai/lesson"
	"github.com/slowai-go/course/slowai/safefile"
)

var (
	flagNotebooks = flag.String("notebooks", "notebooks", "folder holding the NN_name.ipynb notebooks")
	flagOut       = flag.String("out", "lessons", "folder the HTML pages are written to")
	flagCSS       = flag.String("css", "assets/lesson.css", "stylesheet inlined into every page")
	flagTimeout   = flag.Duration("timeout", 30*time.Minute, "time limit for executing one notebook (also the per-cell limit)")
	flagRun       = flag.String("run", "", "only notebooks whose file name matches this regular expression")
	flagCheck     = flag.Bool("check", false, "do not execute anything: verify the rendered pages have their images and no errors")
	flagKernel    = flag.String("kernel", "gonb", "Jupyter kernel name")
	flagJupyter   = flag.String("jupyter", "", "jupyter command (default: $JUPYTER, else /usr/bin/jupyter if present, else jupyter on PATH)")
	flagKeep      = flag.Bool("keep", false, "keep the executed notebooks and nbconvert logs in a temporary folder and print where")
	flagReadme    = flag.String("readme", "", "do not render: rewrite the lesson table of this README file from notebooks/lessons.tsv")
)

// lessonNameRe matches the notebooks that are lessons: two digits, an optional suffix, an underscore.
var lessonNameRe = regexp.MustCompile(`^[0-9]{2}[0-9a-z]*_[A-Za-z0-9_.-]*\.ipynb$`)

func main() {
	flag.Parse()
	var err error
	switch {
	case *flagReadme != "":
		err = updateReadme(*flagReadme)
	case *flagCheck:
		err = check()
	default:
		err = renderAll()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "lessons:", err)
		os.Exit(1)
	}
}

// listNotebooks returns the lesson notebooks in dir, sorted by name (which is course order).
func listNotebooks(dir, filter string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading notebooks folder: %w", err)
	}
	var re *regexp.Regexp
	if filter != "" {
		if re, err = regexp.Compile(filter); err != nil {
			return nil, fmt.Errorf("-run %q: %w", filter, err)
		}
	}
	var names []string
	for _, e := range ents {
		if e.IsDir() || !lessonNameRe.MatchString(e.Name()) || (re != nil && !re.MatchString(e.Name())) {
			continue
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names, nil
}

// engineNote names the engine the notebooks' cells pick (they run with this process's
// environment) for the page footer, e.g. "onnx engine: ONNX Runtime CPU library installed, ...".
func engineNote() string {
	engine, why := backend.Choice()
	return engine + " engine (" + why + ")"
}

func stem(name string) string { return strings.TrimSuffix(name, ".ipynb") }

func readCSS() string {
	b, err := os.ReadFile(*flagCSS)
	if err != nil {
		fmt.Fprintf(os.Stderr, "lessons: warning: no stylesheet (%v); pages use nbconvert's style only\n", err)
		return ""
	}
	return string(b)
}

func renderAll() error {
	names, err := listNotebooks(*flagNotebooks, *flagRun)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		fmt.Printf("lessons: no notebooks matching NN_name.ipynb in %s\n", *flagNotebooks)
	}
	jupyter, err := findJupyter()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*flagOut, 0o755); err != nil {
		return err
	}
	css := readCSS()
	env, cleanup, err := kernelEnv()
	if err != nil {
		return err
	}
	defer cleanup()

	var failures []string
	start := time.Now()
	for _, name := range names {
		t0 := time.Now()
		res, err := renderOne(jupyter, env, name, css)
		dt := time.Since(t0).Round(100 * time.Millisecond)
		switch {
		case err != nil:
			failures = append(failures, fmt.Sprintf("%s: %v", filepath.Join(*flagNotebooks, name), err))
			fmt.Printf("%-28s FAILED after %v\n", stem(name), dt)
		default:
			fmt.Printf("%-28s ok     %6v  %d image(s)\n", stem(name), dt, res.images)
		}
	}
	if err := writeIndex(css); err != nil {
		return err
	}
	fmt.Printf("lessons: rendered %d notebook(s) in %v into %s\n", len(names), time.Since(start).Round(time.Second), *flagOut)
	if len(failures) > 0 {
		return fmt.Errorf("%d notebook(s) failed:\n%s", len(failures), strings.Join(failures, "\n"))
	}
	return nil
}

type renderResult struct{ images int }

// renderOne executes notebooks/name, converts the executed copy to HTML and writes the page.
// The page is written even when a cell failed, so the error can be read in context.
func renderOne(jupyter string, env []string, name, css string) (renderResult, error) {
	var res renderResult
	start := time.Now()
	src := filepath.Join(*flagNotebooks, name)
	raw, err := os.ReadFile(src)
	if err != nil {
		return res, err
	}
	nb, err := parseNotebook(src, raw)
	if err != nil {
		return res, err
	}
	tmp, err := os.MkdirTemp("", "slowai-lesson-"+stem(name)+"-")
	if err != nil {
		return res, err
	}
	if *flagKeep {
		fmt.Printf("  (keeping executed notebook and logs in %s)\n", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	absSrc, err := filepath.Abs(src)
	if err != nil {
		return res, err
	}

	// 1. Execute. --allow-errors: keep going so the page shows every failure; we judge errors ourselves.
	secs := fmt.Sprint(int(flagTimeout.Seconds()))
	executed := filepath.Join(tmp, name)
	err = runLogged(env, filepath.Join(tmp, "execute.log"), *flagTimeout+time.Minute, jupyter, "nbconvert",
		"--to", "notebook", "--execute", "--allow-errors",
		"--ExecutePreprocessor.kernel_name="+*flagKernel,
		"--ExecutePreprocessor.timeout="+secs,
		"--ExecutePreprocessor.startup_timeout=180",
		"--output-dir", tmp, "--output", name, absSrc)
	if err != nil {
		return res, fmt.Errorf("executing: %w", err)
	}
	out, err := os.ReadFile(executed)
	if err != nil {
		return res, fmt.Errorf("nbconvert wrote no executed notebook: %w", err)
	}
	exnb, err := parseNotebook(executed, out)
	if err != nil {
		return res, err
	}
	cellErrs := exnb.findErrors()

	// 2. Convert the executed notebook to HTML (images are already inline data: URIs).
	err = runLogged(env, filepath.Join(tmp, "html.log"), 5*time.Minute, jupyter, "nbconvert",
		"--to", "html",
		"--output-dir", tmp, "--output", stem(name), executed)
	if err != nil {
		return res, fmt.Errorf("converting to HTML: %w", err)
	}
	page, err := os.ReadFile(filepath.Join(tmp, stem(name)+".html"))
	if err != nil {
		return res, fmt.Errorf("nbconvert wrote no HTML: %w", err)
	}
	typeset, err := typesetMath(string(page), *flagKatex)
	if err != nil {
		return res, fmt.Errorf("formulas: %w", err)
	}
	title, _ := nb.titleAndSummary()
	final := postProcess(typeset, pageInfo{Title: title, CSS: css, Errors: len(cellErrs), Quick: lesson.Quick(),
		Engine: engineNote(), Seconds: time.Since(start).Seconds()})
	if err := writeFileAtomic(filepath.Join(*flagOut, stem(name)+".html"), []byte(final)); err != nil {
		return res, err
	}
	res.images = countImages(final)

	var problems []string
	for _, e := range cellErrs {
		problems = append(problems, e.String())
	}
	if min := nb.Metadata.Slowai.MinImages; res.images < min {
		problems = append(problems, fmt.Sprintf("page shows %d image(s), notebook metadata slowai.min_images asks for %d", res.images, min))
	}
	if len(problems) > 0 {
		return res, errors.New(strings.Join(problems, "\n  "))
	}
	return res, nil
}

// writeIndex builds lessons/index.html, the course's front page, from the lesson table: every
// lesson with its page (or as still to be written), grouped by part.
func writeIndex(css string) error {
	lessons, err := readLessonTable(lessonTablePath())
	if err != nil {
		return err
	}
	names, err := listNotebooks(*flagNotebooks, "")
	if err != nil {
		return err
	}
	if missing := untabled(lessons, names); len(missing) > 0 {
		return fmt.Errorf("%s does not list %s: add a row for each", lessonTablePath(), strings.Join(missing, ", "))
	}
	var entries []lessonEntry
	partOf := map[string]string{}
	for _, l := range lessons {
		partOf[l.Stem] = l.Part
		e := lessonEntry{Number: l.Number, Name: l.Stem, Title: l.Title, Written: notebookExists(l.Stem)}
		if e.Written {
			raw, err := os.ReadFile(filepath.Join(*flagNotebooks, l.Stem+".ipynb"))
			if err != nil {
				return err
			}
			nb, err := parseNotebook(l.Stem+".ipynb", raw)
			if err != nil {
				return err
			}
			title, summary := nb.titleAndSummary()
			if title = titleNumRe.ReplaceAllString(title, ""); title != "" {
				e.Title = title
			}
			e.Summary = summary
		}
		if page, err := os.ReadFile(filepath.Join(*flagOut, l.Stem+".html")); err == nil && e.Written {
			e.Page = true
			e.Failed = len(pageErrors(string(page))) > 0
			e.Seconds, e.Quick = renderInfo(string(page))
			e.Thumb = firstFigure(string(page))
		}
		entries = append(entries, e)
	}
	b, err := buildIndex(entries, courseParts, partOf, css)
	if err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(*flagOut, "index.html"), b)
}

// check verifies the rendered pages without executing anything.
func check() error {
	names, err := listNotebooks(*flagNotebooks, *flagRun)
	if err != nil {
		return err
	}
	index, indexErr := os.ReadFile(filepath.Join(*flagOut, "index.html"))
	var failures []string
	passed := 0
	for _, name := range names {
		problems := checkOne(name, string(index), indexErr)
		if len(problems) == 0 {
			passed++
			fmt.Printf("%-28s ok\n", stem(name))
			continue
		}
		fmt.Printf("%-28s FAILED\n", stem(name))
		failures = append(failures, fmt.Sprintf("%s: %s", filepath.Join(*flagOut, stem(name)+".html"), strings.Join(problems, "; ")))
	}
	fmt.Printf("lessons: %d passed, %d failed\n", passed, len(failures))
	if len(failures) > 0 {
		return errors.New(strings.Join(failures, "\n"))
	}
	return nil
}

func checkOne(name, index string, indexErr error) []string {
	var problems []string
	raw, err := os.ReadFile(filepath.Join(*flagNotebooks, name))
	if err != nil {
		return []string{err.Error()}
	}
	nb, err := parseNotebook(name, raw)
	if err != nil {
		return []string{err.Error()}
	}
	b, err := os.ReadFile(filepath.Join(*flagOut, stem(name)+".html"))
	if err != nil {
		return []string{"not rendered (run make lessons): " + err.Error()}
	}
	page := string(b)
	if n, min := countImages(page), nb.Metadata.Slowai.MinImages; n < min {
		problems = append(problems, fmt.Sprintf("%d embedded image(s), slowai.min_images wants at least %d", n, min))
	}
	problems = append(problems, pageErrors(page)...)
	for _, m := range findMath(page) {
		problems = append(problems, fmt.Sprintf("formula left as TeX source: %.60s", page[m.Start:m.End]))
	}
	for _, r := range remoteRefs(page) {
		problems = append(problems, fmt.Sprintf("loads a remote resource (the page must work offline): %s", r))
	}
	if !strings.Contains(page, `name="slowai-errors"`) {
		problems = append(problems, "page was not produced by slowai/cmd/lessons (no slowai-errors meta tag)")
	}
	switch {
	case indexErr != nil:
		problems = append(problems, "no index.html: "+indexErr.Error())
	case !strings.Contains(index, `href="`+stem(name)+`.html"`):
		problems = append(problems, "index.html does not link it")
	}
	return problems
}

// findJupyter picks the jupyter that has nbconvert: on Debian the system one in /usr/bin, which a
// pyenv or virtualenv python3 earlier on PATH would otherwise hide.
func findJupyter() (string, error) {
	if j := *flagJupyter; j != "" {
		return j, nil
	}
	if j := os.Getenv("JUPYTER"); j != "" {
		return j, nil
	}
	if _, err := os.Stat("/usr/bin/jupyter-nbconvert"); err == nil {
		return "/usr/bin/jupyter", nil
	}
	if j, err := exec.LookPath("jupyter"); err == nil {
		return j, nil
	}
	return "", errors.New("jupyter not found: run `make setup` (Debian: apt-get install jupyter-nbconvert; elsewhere: pip install nbconvert jupyter_client ipykernel)")
}

// kernelEnv is the environment nbconvert and the GoNB kernel run with. It hides gopls from the
// kernel: GoNB only uses it for editor hints, and on a small machine it competes with the cells
// for CPU while it indexes the workspace. go and goimports stay reachable.
func kernelEnv() (env []string, cleanup func(), err error) {
	cleanup = func() {}
	env = append(os.Environ(), "PYDEVD_DISABLE_FILE_VALIDATION=1")
	if _, err := exec.LookPath("gopls"); err != nil {
		return env, cleanup, nil
	}
	shim, err := os.MkdirTemp("", "slowai-lessons-bin-")
	if err != nil {
		return nil, cleanup, err
	}
	cleanup = func() { os.RemoveAll(shim) }
	for _, tool := range []string{"go", "gofmt", "goimports"} {
		if p, err := exec.LookPath(tool); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				_ = os.Symlink(abs, filepath.Join(shim, tool))
			}
		}
	}
	var kept []string
	for _, dir := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(dir, "gopls")); err == nil {
			continue
		}
		kept = append(kept, dir)
	}
	path := strings.Join(append([]string{shim}, kept...), string(os.PathListSeparator))
	out := []string{"PATH=" + path}
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PATH=") {
			out = append(out, kv)
		}
	}
	return out, cleanup, nil
}

// runLogged runs a command with its output going to logPath; on failure it returns the log's tail.
func runLogged(env []string, logPath string, limit time.Duration, name string, args ...string) error {
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Stdin = nil
	setProcessGroup(cmd)
	err = cmd.Run()
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		err = fmt.Errorf("timed out after %v (raise with -timeout or LESSON_TIMEOUT)", limit)
	}
	log, _ := os.ReadFile(logPath)
	return fmt.Errorf("%s %s: %w\n%s", filepath.Base(name), args[0], err, summarizeLog(string(log)))
}

var pyExceptionRe = regexp.MustCompile(`(?m)^[A-Za-z_][\w.]*(Error|Exception|Interrupt): `)

// summarizeLog keeps what explains a failed nbconvert run: from the Python exception line on
// (e.g. "nbclient.exceptions.CellTimeoutError: ..." with the cell's code), else the log's tail.
func summarizeLog(log string) string {
	log = filterLog(log)
	if locs := pyExceptionRe.FindAllStringIndex(log, -1); len(locs) > 0 {
		log = log[locs[len(locs)-1][0]:]
	}
	return tail(log, 3000)
}

// filterLog drops the kernel's routine info lines, keeping warnings, errors and Python tracebacks.
func filterLog(s string) string {
	var keep []string
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, "I1") || strings.HasPrefix(line, "I0") || strings.Contains(line, "Debugger warning") ||
			strings.Contains(line, "frozen modules") || strings.Contains(line, "PYDEVD_DISABLE_FILE_VALIDATION") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// writeFileAtomic writes via a temporary file and a rename, so a reader never sees half a page.
func writeFileAtomic(path string, data []byte) error {
	if err := safefile.Write(path, data); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}
