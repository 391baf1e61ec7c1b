package hub

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/slowai-go/course/slowai/netguard"
)

const testRepo = "CompVis/stable-diffusion-v1-4"

// fakeHub serves a repository the way huggingface.co does: the revision API with blob ids,
// /resolve/ URLs with ETag headers, LFS files redirected to a CDN path, and byte ranges.
type fakeHub struct {
	sha        string
	files      map[string][]byte
	token      string // required bearer token, if set
	noBlobInfo bool   // listing without blob ids: the client must HEAD each file
	corrupt    bool   // serve LFS files with one byte flipped

	mu       sync.Mutex
	truncate map[string]int // file → how many more responses to cut short
	stall    map[string]int // file → how many more responses to stop sending mid-body
	silent   bool           // the revision API accepts requests and never answers
	release  chan struct{}  // closed at the end of the test: stalled handlers return
	log      []request
}

type request struct {
	method, path, rangeHdr, auth string
}

func isLFS(name string) bool {
	return strings.HasSuffix(name, ".safetensors") || strings.HasSuffix(name, ".bin")
}

func gitSHA1(data []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(data))
	h.Write(data)
	return hex.EncodeToString(h.Sum(nil))
}

func sha256Hex(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	h.log = append(h.log, request{r.Method, r.URL.Path, r.Header.Get("Range"), r.Header.Get("Authorization")})
	h.mu.Unlock()
	if strings.HasPrefix(r.URL.Path, "/cdn/") {
		h.serveCDN(w, r)
		return
	}
	if h.token != "" && r.Header.Get("Authorization") != "Bearer "+h.token {
		w.Header().Set("X-Error-Message", "Access to model "+testRepo+" is restricted.")
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	prefix := "/api/models/" + testRepo + "/revision/"
	if rev, ok := strings.CutPrefix(r.URL.Path, prefix); ok {
		if h.silent {
			h.wait(r)
			return
		}
		if rev != "main" && rev != h.sha {
			http.NotFound(w, r)
			return
		}
		var sibs []map[string]any
		for name, data := range h.files {
			s := map[string]any{"rfilename": name}
			if !h.noBlobInfo {
				s["blobId"] = gitSHA1(data)
				s["size"] = len(data)
				if isLFS(name) {
					s["lfs"] = map[string]any{"sha256": sha256Hex(data), "size": len(data), "pointerSize": 134}
				}
			}
			sibs = append(sibs, s)
		}
		json.NewEncoder(w).Encode(map[string]any{"id": testRepo, "sha": h.sha, "siblings": sibs})
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/"+testRepo+"/resolve/"+h.sha+"/")
	data, found := h.files[name]
	if !ok || !found {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("X-Repo-Commit", h.sha)
	if isLFS(name) {
		w.Header().Set("X-Linked-Etag", `"`+sha256Hex(data)+`"`)
		w.Header().Set("X-Linked-Size", fmt.Sprint(len(data)))
		w.Header().Set("ETag", `"`+gitSHA1([]byte("pointer"))+`"`)
		http.Redirect(w, r, "/cdn/"+name, http.StatusFound)
		return
	}
	w.Header().Set("ETag", `"`+gitSHA1(data)+`"`)
	h.serveContent(w, r, name, data)
}

func (h *fakeHub) serveCDN(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/cdn/")
	data, ok := h.files[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	if h.corrupt {
		data = bytes.Clone(data)
		data[len(data)/2] ^= 1
	}
	h.serveContent(w, r, name, data)
}

// serveContent answers ranges via http.ServeContent, or cuts the body short (dropping the
// connection) while truncate[name] > 0.
func (h *fakeHub) serveContent(w http.ResponseWriter, r *http.Request, name string, data []byte) {
	h.mu.Lock()
	cut := h.truncate[name] > 0 && r.Method == http.MethodGet
	if cut {
		h.truncate[name]--
	}
	stall := !cut && h.stall[name] > 0 && r.Method == http.MethodGet
	if stall {
		h.stall[name]--
	}
	h.mu.Unlock()
	cut = cut || stall
	if !cut {
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
		return
	}
	start := int64(0)
	if rg := r.Header.Get("Range"); rg != "" {
		fmt.Sscanf(rg, "bytes=%d-", &start)
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(data)-1, len(data)))
		w.Header().Set("Content-Length", fmt.Sprint(int64(len(data))-start))
		w.WriteHeader(http.StatusPartialContent)
	} else {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.WriteHeader(http.StatusOK)
	}
	rest := data[start:]
	w.Write(rest[:len(rest)/2])
	w.(http.Flusher).Flush()
	if stall {
		h.wait(r)
		return
	}
	panic(http.ErrAbortHandler)
}

// wait blocks a handler until the client gives up or the test ends.
func (h *fakeHub) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-h.release:
	}
}

func (h *fakeHub) requests() []request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]request(nil), h.log...)
}

// sdFiles builds a repository with configs, fp16 and fp32 weights, and extras that must not be
// fetched. Weight sizes are small but the unet spans several read buffers.
func sdFiles(fp16 bool) map[string][]byte {
	rng := rand.New(rand.NewSource(1))
	blob := func(n int) []byte {
		b := make([]byte, n)
		rng.Read(b)
		return b
	}
	files := map[string][]byte{
		"README.md":                                  []byte("# SD\n"),
		"safety_checker/model.safetensors":           blob(1000),
		"unet/diffusion_pytorch_model.bin":           blob(1000),
		"text_encoder/model.safetensors":             blob(3000),
		"unet/diffusion_pytorch_model.safetensors":   blob(9000),
		"vae/diffusion_pytorch_model.safetensors":    blob(2000),
		"feature_extractor/preprocessor_config.json": []byte("{}"),
		"model_index.json":                           []byte(`{"_class_name": "StableDiffusionPipeline"}`),
		"scheduler/scheduler_config.json":            []byte(`{"_class_name": "PNDMScheduler"}`),
		"tokenizer/vocab.json":                       []byte(`{"a</w>": 320}`),
		"tokenizer/merges.txt":                       []byte("#version: 0.2\ni n\n"),
		"tokenizer/tokenizer_config.json":            []byte(`{"model_max_length": 77}`),
		"tokenizer/special_tokens_map.json":          []byte(`{}`),
		"text_encoder/config.json":                   []byte(`{"hidden_size": 768}`),
		"unet/config.json":                           []byte(`{"sample_size": 64}`),
		"vae/config.json":                            []byte(`{"scaling_factor": 0.18215}`),
	}
	if fp16 {
		files["text_encoder/model.fp16.safetensors"] = blob(1500)
		files["unet/diffusion_pytorch_model.fp16.safetensors"] = blob(300_000)
		files["vae/diffusion_pytorch_model.fp16.safetensors"] = blob(1000)
	}
	return files
}

func newHub(t *testing.T, fp16 bool) (*fakeHub, *httptest.Server) {
	h := &fakeHub{sha: strings.Repeat("ab12", 10), files: sdFiles(fp16), truncate: map[string]int{},
		stall: map[string]int{}, release: make(chan struct{})}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(h.release) }) // runs before srv.Close
	return h, srv
}

// isolate clears the HF_* variables so the host's settings cannot leak into a test.
func isolate(t *testing.T) string {
	home := t.TempDir()
	for _, k := range []string{"HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_TOKEN",
		"HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_OFFLINE", "XDG_CACHE_HOME"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", home)
	return home
}

func opts(srv *httptest.Server, cache string) Options {
	return Options{Endpoint: srv.URL, CacheDir: cache, Progress: io.Discard}
}

// wantFiles are the repository files a download with fp16 preference must produce.
func wantFiles(fp16 bool) []string {
	out := append([]string(nil), ConfigFiles...)
	for _, c := range Components {
		a, b, _ := WeightNames(c)
		if fp16 {
			out = append(out, a)
		} else {
			out = append(out, b)
		}
	}
	return out
}

func checkSnapshot(t *testing.T, h *fakeHub, dir string, fp16 bool) {
	t.Helper()
	for _, name := range wantFiles(fp16) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		got, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !bytes.Equal(got, h.files[name]) {
			t.Errorf("%s: content differs from the hub's (%d vs %d bytes)", name, len(got), len(h.files[name]))
		}
		target, err := os.Readlink(p)
		if err != nil || !strings.HasPrefix(target, "..") || !strings.Contains(target, "blobs") {
			t.Errorf("%s: expected a relative symlink into blobs/, got %q (%v)", name, target, err)
		}
	}
}

// noPartialFiles fails if a .incomplete or temporary file is left anywhere in the cache.
func noPartialFiles(t *testing.T, cache string) {
	t.Helper()
	filepath.WalkDir(cache, func(p string, d fs.DirEntry, err error) error {
		if err == nil && (strings.HasSuffix(p, ".incomplete") || strings.Contains(d.Name(), ".tmp")) {
			t.Errorf("left behind: %s", p)
		}
		return nil
	})
}

func resolveGets(h *fakeHub) map[string]int {
	n := map[string]int{}
	for _, r := range h.requests() {
		if r.method == http.MethodGet && strings.Contains(r.path, "/resolve/") {
			n[r.path[strings.Index(r.path, h.sha)+len(h.sha)+1:]]++
		}
	}
	return n
}

func TestFullDownloadViaEnvironment(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	cache := filepath.Join(t.TempDir(), "hubcache")
	t.Setenv("HF_ENDPOINT", srv.URL+"/")
	t.Setenv("HF_HUB_CACHE", cache)
	var out bytes.Buffer
	dir, err := Download(context.Background(), "", "", Options{Progress: &out})
	if err != nil {
		t.Fatal(err)
	}
	repoRoot := filepath.Join(cache, "models--CompVis--stable-diffusion-v1-4")
	if dir != filepath.Join(repoRoot, "snapshots", h.sha) {
		t.Fatalf("dir = %s, want %s/snapshots/%s", dir, repoRoot, h.sha)
	}
	checkSnapshot(t, h, dir, true)
	noPartialFiles(t, cache)
	if ref, err := os.ReadFile(filepath.Join(repoRoot, "refs", "main")); err != nil || string(ref) != h.sha {
		t.Errorf("refs/main = %q (%v), want %s", ref, err, h.sha)
	}
	got := resolveGets(h)
	for _, name := range wantFiles(true) {
		if got[name] != 1 {
			t.Errorf("%s fetched %d times, want 1", name, got[name])
		}
	}
	if len(got) != len(wantFiles(true)) {
		t.Errorf("fetched %d files, want %d: %v", len(got), len(wantFiles(true)), got)
	}
	if !strings.Contains(out.String(), "unet/diffusion_pytorch_model.fp16.safetensors [") {
		t.Errorf("no progress bar for the unet in %q", out.String())
	}
	w, err := WeightsFile(dir, "unet")
	if err != nil || filepath.Base(w) != "diffusion_pytorch_model.fp16.safetensors" {
		t.Errorf("WeightsFile(unet) = %s, %v", w, err)
	}

	// A second call only asks for the listing.
	before := len(h.requests())
	dir2, err := Download(context.Background(), testRepo, "main", Options{Progress: io.Discard})
	if err != nil || dir2 != dir {
		t.Fatalf("second call: %s, %v", dir2, err)
	}
	if reqs := h.requests()[before:]; len(reqs) != 1 || !strings.HasPrefix(reqs[0].path, "/api/") {
		t.Errorf("second call made requests %v, want only the listing", reqs)
	}
}

func TestFloat32Weights(t *testing.T) {
	isolate(t)
	for _, tc := range []struct {
		name          string
		repoFP16, not bool
	}{{"repo without fp16", false, false}, {"NoFP16 option", true, true}} {
		h, srv := newHub(t, tc.repoFP16)
		cache := t.TempDir()
		o := opts(srv, cache)
		o.NoFP16 = tc.not
		dir, err := Download(context.Background(), testRepo, "main", o)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkSnapshot(t, h, dir, false)
		for name := range resolveGets(h) {
			if strings.Contains(name, ".fp16.") {
				t.Errorf("%s: fetched %s", tc.name, name)
			}
		}
	}
}

func TestResumeWithinOneCall(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	const unet = "unet/diffusion_pytorch_model.fp16.safetensors"
	h.truncate[unet] = 1
	cache := t.TempDir()
	dir, err := Download(context.Background(), testRepo, "main", opts(srv, cache))
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, h, dir, true)
	noPartialFiles(t, cache)
	var ranges []string
	for _, r := range h.requests() {
		if r.path == "/cdn/"+unet && r.rangeHdr != "" { // the CDN serves LFS bytes after the redirect
			ranges = append(ranges, r.rangeHdr)
		}
	}
	want := fmt.Sprintf("bytes=%d-", len(h.files[unet])/2)
	if len(ranges) != 1 || ranges[0] != want {
		t.Errorf("range requests %v, want [%s]", ranges, want)
	}
}

func TestResumeAcrossCalls(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	const unet = "unet/diffusion_pytorch_model.fp16.safetensors"
	h.truncate[unet] = attempts // every attempt of the first call is cut short
	cache := t.TempDir()
	_, err := Download(context.Background(), testRepo, "main", opts(srv, cache))
	if err == nil || !strings.Contains(err.Error(), unet) || !strings.Contains(err.Error(), "resume") {
		t.Fatalf("err = %v, want a failure naming %s and saying it can resume", err, unet)
	}
	blob := filepath.Join(cache, "models--CompVis--stable-diffusion-v1-4", "blobs", sha256Hex(h.files[unet]))
	if _, err := os.Stat(blob); err == nil {
		t.Fatal("partial download visible under the blob's final name")
	}
	if _, err := os.Lstat(filepath.Join(cache, "models--CompVis--stable-diffusion-v1-4", "snapshots", h.sha, unet)); err == nil {
		t.Fatal("partial download linked into the snapshot")
	}
	st, err := os.Stat(blob + ".incomplete")
	if err != nil || st.Size() == 0 || st.Size() >= int64(len(h.files[unet])) {
		t.Fatalf("incomplete file: %v %v", st, err)
	}
	have := st.Size()

	before := len(h.requests())
	dir, err := Download(context.Background(), testRepo, "main", opts(srv, cache))
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, h, dir, true)
	noPartialFiles(t, cache)
	var first string
	for _, r := range h.requests()[before:] {
		if strings.HasSuffix(r.path, unet) && r.method == http.MethodGet {
			first = r.rangeHdr
			break
		}
	}
	if want := fmt.Sprintf("bytes=%d-", have); first != want {
		t.Errorf("second call's first unet request had Range %q, want %q", first, want)
	}
}

func TestTokenSent(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	h.token = "hf_secret"
	t.Setenv("HF_TOKEN", "hf_secret")
	dir, err := Download(context.Background(), testRepo, "main", opts(srv, t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, h, dir, true)
	for _, r := range h.requests() {
		if !strings.HasPrefix(r.path, "/cdn/") && r.auth != "Bearer hf_secret" {
			t.Errorf("%s %s sent Authorization %q", r.method, r.path, r.auth)
		}
	}

	// The token file written by `huggingface-cli login` works too.
	t.Setenv("HF_TOKEN", "")
	home := t.TempDir()
	t.Setenv("HF_HOME", home)
	os.WriteFile(filepath.Join(home, "token"), []byte("hf_secret\n"), 0o600)
	if _, err := Download(context.Background(), testRepo, "main", opts(srv, t.TempDir())); err != nil {
		t.Fatalf("token from HF_HOME/token: %v", err)
	}
}

func TestUnauthorized(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	h.token = "hf_secret"
	cache := t.TempDir()
	_, err := Download(context.Background(), testRepo, "main", opts(srv, cache))
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "HF_TOKEN") ||
		!strings.Contains(err.Error(), "gated") || !strings.Contains(err.Error(), "is restricted") {
		t.Fatalf("err = %v, want a 401 explaining HF_TOKEN", err)
	}
	o := opts(srv, cache)
	o.Token = "hf_wrong"
	if _, err := Download(context.Background(), testRepo, "main", o); err == nil || !strings.Contains(err.Error(), "rejected") {
		t.Fatalf("wrong token: err = %v, want it to say the token was rejected", err)
	}
}

func TestOffline(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	cache := t.TempDir()
	o := opts(srv, cache)
	o.Offline = true
	_, err := Download(context.Background(), testRepo, "main", o)
	if err == nil || !strings.Contains(err.Error(), filepath.Join("refs", "main")) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Fatalf("empty cache: err = %v, want it to name refs/main and HF_HUB_OFFLINE", err)
	}
	if n := len(h.requests()); n != 0 {
		t.Fatalf("offline mode made %d requests", n)
	}

	dir, err := Download(context.Background(), testRepo, "main", opts(srv, cache))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	t.Setenv("HF_HUB_OFFLINE", "1")
	t.Setenv("HF_HUB_CACHE", cache)
	got, err := Download(context.Background(), testRepo, "main", Options{Endpoint: srv.URL, Progress: io.Discard})
	if err != nil || got != dir {
		t.Fatalf("offline with cache: %s, %v; want %s", got, err, dir)
	}
	if got, err := CachedDir(testRepo, h.sha); err != nil || got != dir {
		t.Fatalf("CachedDir by commit: %s, %v", got, err)
	}

	os.Remove(filepath.Join(dir, "unet", "config.json"))
	os.Remove(filepath.Join(dir, "vae", "diffusion_pytorch_model.fp16.safetensors"))
	_, err = CachedDir(testRepo, "main")
	if err == nil || !strings.Contains(err.Error(), "unet/config.json") || !strings.Contains(err.Error(), "vae/diffusion_pytorch_model.fp16.safetensors") {
		t.Fatalf("err = %v, want it to name the missing files", err)
	}
}

// TestUnreachableHubUsesCache: without network, a complete cached snapshot is still returned.
func TestUnreachableHubUsesCache(t *testing.T) {
	isolate(t)
	_, srv := newHub(t, true)
	cache := t.TempDir()
	dir, err := Download(context.Background(), testRepo, "main", opts(srv, cache))
	if err != nil {
		t.Fatal(err)
	}
	srv.Close()
	if got, err := Download(context.Background(), testRepo, "main", opts(srv, cache)); err != nil || got != dir {
		t.Fatalf("got %s, %v; want the cached %s", got, err, dir)
	}
	if _, err := Download(context.Background(), testRepo, "main", opts(srv, t.TempDir())); err == nil || !strings.Contains(err.Error(), "HF_HUB_OFFLINE") {
		t.Fatalf("empty cache, no hub: err = %v", err)
	}
}

// TestHeadFallback: when the listing has no blob ids, the ETag headers name the blobs.
func TestHeadFallback(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	h.noBlobInfo = true
	cache := t.TempDir()
	dir, err := Download(context.Background(), testRepo, "main", opts(srv, cache))
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, h, dir, true)
	blobs := filepath.Join(cache, "models--CompVis--stable-diffusion-v1-4", "blobs")
	for _, b := range []string{sha256Hex(h.files["unet/diffusion_pytorch_model.fp16.safetensors"]), gitSHA1(h.files["model_index.json"])} {
		if _, err := os.Stat(filepath.Join(blobs, b)); err != nil {
			t.Errorf("blob %s: %v", b, err)
		}
	}
}

func TestCorruptDownloadRejected(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	h.corrupt = true
	cache := t.TempDir()
	_, err := Download(context.Background(), testRepo, "main", opts(srv, cache))
	if err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Fatalf("err = %v, want a hash mismatch", err)
	}
	noPartialFiles(t, cache)
	matches, _ := filepath.Glob(filepath.Join(cache, "*", "blobs", "*"))
	for _, m := range matches {
		data, _ := os.ReadFile(m)
		if sha256Hex(data) != filepath.Base(m) && gitSHA1(data) != filepath.Base(m) {
			t.Errorf("blob %s does not hold its hash", m)
		}
	}
}

func TestNotAnSDRepo(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, false)
	delete(h.files, "unet/diffusion_pytorch_model.safetensors")
	_, err := Download(context.Background(), testRepo, "main", opts(srv, t.TempDir()))
	if err == nil || !strings.Contains(err.Error(), "unet/diffusion_pytorch_model.safetensors") {
		t.Fatalf("err = %v, want it to name the missing unet weights", err)
	}
	if _, err := Download(context.Background(), "no-slash", "main", opts(srv, t.TempDir())); err == nil || !strings.Contains(err.Error(), "org/name") {
		t.Fatalf("bad repo id: err = %v", err)
	}
	if _, err := Download(context.Background(), testRepo, "v9", opts(srv, t.TempDir())); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("unknown revision: err = %v", err)
	}
}

func TestCacheDirFromEnvironment(t *testing.T) {
	home := isolate(t)
	if got, want := CacheDir(), filepath.Join(home, "hub"); got != want {
		t.Errorf("HF_HOME: %s, want %s", got, want)
	}
	t.Setenv("HF_HUB_CACHE", "/x/hub")
	if got := CacheDir(); got != "/x/hub" {
		t.Errorf("HF_HUB_CACHE: %s", got)
	}
	t.Setenv("HF_HUB_CACHE", "")
	t.Setenv("HF_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "/xdg")
	if got := CacheDir(); got != "/xdg/huggingface/hub" {
		t.Errorf("XDG_CACHE_HOME: %s", got)
	}
}

func TestVerifyKnownHashes(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("hello\n"), 0o644)
	// `git hash-object` and `sha256sum` of "hello\n".
	if err := verify(p, "ce013625030ba8dba906f756967f9e9ca394464a", 6); err != nil {
		t.Error(err)
	}
	if err := verify(p, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03", 6); err != nil {
		t.Error(err)
	}
	if err := verify(p, "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be04", 6); err == nil {
		t.Error("wrong sha256 accepted")
	}
	if err := verify(p, "ce013625030ba8dba906f756967f9e9ca394464a", 7); err == nil {
		t.Error("wrong size accepted")
	}
}

// fastTimeouts make the stall tests take a fraction of a second.
var fastTimeouts = netguard.Timeouts{Connect: time.Second, Header: 200 * time.Millisecond, Idle: 200 * time.Millisecond}

// downloadWithin runs Download and fails the test if it has not returned after limit.
func downloadWithin(t *testing.T, limit time.Duration, o Options) (string, error) {
	t.Helper()
	type result struct {
		dir string
		err error
	}
	done := make(chan result, 1)
	go func() {
		dir, err := Download(context.Background(), testRepo, "main", o)
		done <- result{dir, err}
	}()
	select {
	case r := <-done:
		return r.dir, r.err
	case <-time.After(limit):
		t.Fatalf("Download still running after %v: it hangs", limit)
		return "", nil
	}
}

// TestStalledBodyResumes: a file whose body stops mid-way is retried from the bytes already
// on disk within the same call, and the progress output says what stalled.
func TestStalledBodyResumes(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	const unet = "unet/diffusion_pytorch_model.fp16.safetensors"
	h.stall[unet] = 1
	cache := t.TempDir()
	var out strings.Builder
	o := opts(srv, cache)
	o.Progress, o.Timeouts = &out, fastTimeouts
	dir, err := downloadWithin(t, 10*time.Second, o)
	if err != nil {
		t.Fatal(err)
	}
	checkSnapshot(t, h, dir, true)
	noPartialFiles(t, cache)
	if want := "the body stalled: no data for 200ms after"; !strings.Contains(out.String(), want) || !strings.Contains(out.String(), "resuming") {
		t.Errorf("progress output %q should say %q and that it resumes", out.String(), want)
	}
}

// TestStallsEndWithAMessage: a hub that never answers, or a file that stalls on every attempt,
// ends the call within a few idle periods, with an error naming the URL and what stalled.
func TestStallsEndWithAMessage(t *testing.T) {
	isolate(t)
	h, srv := newHub(t, true)
	const vae = "vae/diffusion_pytorch_model.fp16.safetensors"
	h.stall[vae] = attempts
	o := opts(srv, t.TempDir())
	o.Timeouts = fastTimeouts
	_, err := downloadWithin(t, 10*time.Second, o)
	want := "hub: downloading " + vae + ": GET " + srv.URL + "/" + testRepo + "/resolve/" + h.sha + "/" + vae + ": the body stalled: no data for 200ms after"
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run again to resume") {
		t.Errorf("stalled body: error %v\nwant it to contain %q", err, want)
	}

	h.silent = true
	_, err = downloadWithin(t, 10*time.Second, o)
	want = "GET " + srv.URL + "/api/models/" + testRepo + "/revision/main?blobs=true: no response headers within 200ms"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("silent hub: error %v\nwant it to contain %q", err, want)
	}
}

// TestRefIsReadableByOthers: refs/main and the snapshot files are written with the umask's
// mode (0644 under 022), not 0600, so other users of a shared cache can read them.
func TestRefIsReadableByOthers(t *testing.T) {
	isolate(t)
	_, srv := newHub(t, true)
	cache := t.TempDir()
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	if _, err := Download(context.Background(), testRepo, "main", opts(srv, cache)); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(cache, "models--CompVis--stable-diffusion-v1-4", "refs", "main")
	if st, err := os.Stat(ref); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("%s: mode %v (%v), want -rw-r--r--", ref, st.Mode(), err)
	}
}
