package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/slowai-go/course/slowai/netguard"
	"github.com/slowai-go/course/slowai/progress"
)

// Options tune Download. The zero value reads everything from the environment, like the Python
// hub client: HF_ENDPOINT, HF_HUB_CACHE / HF_HOME, HF_TOKEN, HF_HUB_OFFLINE.
type Options struct {
	Endpoint string       // hub URL; default HF_ENDPOINT, else https://huggingface.co
	CacheDir string       // cache root; default CacheDir()
	Token    string       // access token for gated/private repos; default HF_TOKEN or the login token file
	Offline  bool         // use only the cache (also set by HF_HUB_OFFLINE=1)
	NoFP16   bool         // fetch the float32 weights even where fp16 ones exist
	Progress io.Writer    // where progress bars go; nil = os.Stdout, io.Discard silences them
	Client   *http.Client // nil = Timeouts.Client(): no overall timeout (big files take minutes)
	// Timeouts bound connecting, waiting for response headers and waiting for the next body
	// bytes (zero fields: netguard.Defaults); a stalled transfer is retried from where it stopped.
	Timeouts netguard.Timeouts
}

func (o Options) withDefaults() Options {
	if o.Endpoint == "" {
		o.Endpoint = firstEnv("HF_ENDPOINT")
	}
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	o.Endpoint = strings.TrimRight(o.Endpoint, "/")
	if o.CacheDir == "" {
		o.CacheDir = CacheDir()
	}
	if o.Token == "" {
		o.Token = envToken()
	}
	o.Offline = o.Offline || envOffline()
	if o.Progress == nil {
		o.Progress = os.Stdout
	}
	o.Timeouts = o.Timeouts.WithDefaults()
	if o.Client == nil {
		o.Client = o.Timeouts.Client()
	}
	return o
}

// attempts is how often one file's transfer is tried within a Download call; each retry resumes
// from the bytes already on disk.
const attempts = 3

// Download fetches the SD v1 pipeline files of repo (DefaultRepo when "") at revision ("main"
// when "") into the cache and returns the snapshot directory, laid out like the diffusers
// repository: model_index.json, scheduler/, tokenizer/, text_encoder/, unet/, vae/. Weights
// are the fp16 safetensors when the repository has them (see WeightsFile), else float32.
// Files already in the cache are not fetched again. If the hub cannot be reached at all, a
// complete cached snapshot is used instead.
func Download(ctx context.Context, repo, revision string, opts Options) (string, error) {
	repo, revision, err := repoRevision(repo, revision)
	if err != nil {
		return "", err
	}
	o := opts.withDefaults()
	if o.Offline {
		return cached(o, repo, revision, "offline mode (HF_HUB_OFFLINE or Options.Offline)")
	}
	info, err := o.repoInfo(ctx, repo, revision)
	if err != nil {
		var ne *netError
		if errors.As(err, &ne) && ctx.Err() == nil {
			if dir, cerr := cached(o, repo, revision, "hub unreachable"); cerr == nil {
				fmt.Fprintf(o.Progress, "hub: %v\nhub: using the cached snapshot %s\n", err, dir)
				return dir, nil
			}
		}
		return "", err
	}
	rd := repoDir(o.CacheDir, repo)
	if revision != info.SHA {
		if err := writeFileAtomic(filepath.Join(rd, "refs", filepath.FromSlash(revision)), []byte(info.SHA)); err != nil {
			return "", fmt.Errorf("hub: recording revision %q of %s: %w", revision, repo, err)
		}
	}
	files, err := selectFiles(info, repo, revision, o.NoFP16)
	if err != nil {
		return "", err
	}
	snap := filepath.Join(rd, "snapshots", info.SHA)
	for _, f := range files {
		if err := o.fetch(ctx, repo, info.SHA, rd, snap, f); err != nil {
			return "", err
		}
	}
	return snap, nil
}

// repoRevision fills in the defaults (DefaultRepo, "main") and checks the repository name.
func repoRevision(repo, revision string) (string, string, error) {
	if repo == "" {
		repo = DefaultRepo
	}
	if revision == "" {
		revision = "main"
	}
	return repo, revision, checkRepo(repo)
}

// CachedDir returns the snapshot directory of repo at revision if every SD file is already in
// the cache (settings from the environment), without touching the network.
func CachedDir(repo, revision string) (string, error) {
	repo, revision, err := repoRevision(repo, revision)
	if err != nil {
		return "", err
	}
	return cached(Options{}.withDefaults(), repo, revision, "cache lookup")
}

// cached resolves revision through refs/ and checks that the snapshot holds every needed file,
// naming whatever is missing.
func cached(o Options, repo, revision, why string) (string, error) {
	rd := repoDir(o.CacheDir, repo)
	sha := ""
	if isCommit(revision) {
		if _, err := os.Stat(filepath.Join(rd, "snapshots", revision)); err == nil {
			sha = revision
		}
	}
	if sha == "" {
		ref := filepath.Join(rd, "refs", filepath.FromSlash(revision))
		b, err := os.ReadFile(ref)
		if err != nil {
			return "", fmt.Errorf("hub: %s: %s@%s is not in the cache %s (no %s); run once with network access (HF_HUB_OFFLINE unset) to download it",
				why, repo, revision, o.CacheDir, ref)
		}
		sha = strings.TrimSpace(string(b))
	}
	snap := filepath.Join(rd, "snapshots", sha)
	var missing []string
	for _, name := range ConfigFiles {
		if !fileExists(filepath.Join(snap, filepath.FromSlash(name))) {
			missing = append(missing, name)
		}
	}
	for _, c := range Components {
		fp16, fp32, _ := WeightNames(c)
		ok := fileExists(filepath.Join(snap, filepath.FromSlash(fp32))) ||
			(!o.NoFP16 && fileExists(filepath.Join(snap, filepath.FromSlash(fp16))))
		if !ok {
			if o.NoFP16 {
				missing = append(missing, fp32)
			} else {
				missing = append(missing, fp16+" (or "+filepath.Base(fp32)+")")
			}
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("hub: %s: cached snapshot %s of %s@%s lacks %s; run once with network access (HF_HUB_OFFLINE unset) to download them",
			why, snap, repo, revision, strings.Join(missing, ", "))
	}
	return snap, nil
}

// fileExists follows symlinks, so a snapshot link to a missing blob counts as missing.
func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// repoInfo is the part of the hub's /api/models/{repo}/revision/{rev}?blobs=true answer used here.
type repoInfo struct {
	SHA      string    `json:"sha"`
	Siblings []sibling `json:"siblings"`
}

type sibling struct {
	Name   string `json:"rfilename"`
	BlobID string `json:"blobId"`
	Size   int64  `json:"size"`
	LFS    *struct {
		SHA256 string `json:"sha256"`
		Size   int64  `json:"size"`
	} `json:"lfs"`
}

// etag is the name of the file's blob in the cache: the sha256 for LFS files, the git blob id
// otherwise (the same names huggingface_hub derives from the ETag headers).
func (s sibling) etag() (string, int64) {
	if s.LFS != nil && s.LFS.SHA256 != "" {
		return s.LFS.SHA256, s.LFS.Size
	}
	return s.BlobID, s.Size
}

func (o Options) repoInfo(ctx context.Context, repo, revision string) (*repoInfo, error) {
	u := fmt.Sprintf("%s/api/models/%s/revision/%s?blobs=true", o.Endpoint, repo, url.PathEscape(revision))
	resp, err := o.do(ctx, http.MethodGet, u, nil, o.Client)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, o.statusError(resp, repo, revision, "")
	}
	var info repoInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return nil, fmt.Errorf("hub: %s: expected JSON with \"sha\" and \"siblings\": %w", u, err)
	}
	if !isCommit(info.SHA) {
		return nil, fmt.Errorf("hub: %s: \"sha\" = %q, expected a 40-hex commit id", u, info.SHA)
	}
	return &info, nil
}

// selectFiles picks the needed files from the repository listing, fp16 weights first.
func selectFiles(info *repoInfo, repo, revision string, noFP16 bool) ([]sibling, error) {
	byName := map[string]sibling{}
	for _, s := range info.Siblings {
		byName[s.Name] = s
	}
	var out, missing []string
	for _, name := range ConfigFiles {
		if _, ok := byName[name]; ok {
			out = append(out, name)
		} else {
			missing = append(missing, name)
		}
	}
	for _, c := range Components {
		fp16, fp32, _ := WeightNames(c)
		if _, ok := byName[fp16]; ok && !noFP16 {
			out = append(out, fp16)
		} else if _, ok := byName[fp32]; ok {
			out = append(out, fp32)
		} else {
			missing = append(missing, fp32)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("hub: %s@%s has no %s; expected a diffusers-format Stable Diffusion v1 repository such as %s",
			repo, revision, strings.Join(missing, ", "), DefaultRepo)
	}
	files := make([]sibling, len(out))
	for i, name := range out {
		files[i] = byName[name]
	}
	return files, nil
}

func (o Options) fileURL(repo, sha, name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return fmt.Sprintf("%s/%s/resolve/%s/%s", o.Endpoint, repo, sha, strings.Join(parts, "/"))
}

// fetch puts one file into the snapshot: reuse the blob if cached, else download it into
// blobs/ETAG.incomplete (resuming), verify it, rename it to blobs/ETAG, and link it.
func (o Options) fetch(ctx context.Context, repo, sha, rd, snap string, f sibling) error {
	dst := filepath.Join(snap, filepath.FromSlash(f.Name))
	etag, size := f.etag()
	if st, err := os.Stat(dst); err == nil && st.Mode().IsRegular() && (size <= 0 || st.Size() == size) {
		return nil
	}
	u := o.fileURL(repo, sha, f.Name)
	if etag == "" {
		var err error
		if etag, size, err = o.head(ctx, u, repo, sha, f.Name); err != nil {
			return err
		}
	}
	if strings.ContainsAny(etag, `/\`) || etag == "." || etag == ".." {
		return fmt.Errorf("hub: %s: ETag %q is not usable as a file name", u, etag)
	}
	blob := filepath.Join(rd, "blobs", etag)
	if st, err := os.Stat(blob); err != nil || (size > 0 && st.Size() != size) {
		if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
		if err := o.download(ctx, u, blob, etag, size, f.Name, repo, sha); err != nil {
			return err
		}
	}
	if err := linkIntoSnapshot(blob, dst); err != nil {
		return fmt.Errorf("hub: linking %s to %s: %w", dst, blob, err)
	}
	return nil
}

// head asks the hub (without following the CDN redirect) for a file's ETag and size, for
// listings that carry no blob ids.
func (o Options) head(ctx context.Context, u, repo, sha, name string) (string, int64, error) {
	noRedirect := *o.Client
	noRedirect.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := o.do(ctx, http.MethodHead, u, nil, &noRedirect)
	if err != nil {
		return "", 0, err
	}
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return "", 0, o.statusError(resp, repo, sha, name)
	}
	etag := firstHeader(resp.Header, "X-Linked-Etag", "ETag")
	etag = strings.Trim(strings.TrimPrefix(etag, "W/"), `"`)
	if etag == "" {
		return "", 0, fmt.Errorf("hub: %s: no ETag header, cannot name the cached blob", u)
	}
	size, _ := strconv.ParseInt(firstHeader(resp.Header, "X-Linked-Size", "Content-Length"), 10, 64)
	return etag, size, nil
}

func firstHeader(h http.Header, keys ...string) string {
	for _, k := range keys {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// download retries transfer errors, each time resuming from the .incomplete file, then checks
// size and hash before the blob appears under its final name.
func (o Options) download(ctx context.Context, u, blob, etag string, size int64, name, repo, sha string) error {
	part := blob + ".incomplete"
	var err error
	for try := 1; try <= attempts; try++ {
		err = o.transfer(ctx, u, part, size, name, repo, sha)
		var re *retryError
		if err == nil || !errors.As(err, &re) || ctx.Err() != nil {
			break
		}
		if try < attempts {
			fmt.Fprintf(o.Progress, "hub: %s: %v; resuming (attempt %d of %d)\n", name, re.err, try+1, attempts)
			select {
			case <-time.After(time.Duration(try) * 100 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	if err != nil {
		var re *retryError
		if errors.As(err, &re) {
			err = re.err
		}
		from := " from " + u
		var se *netguard.StallError
		if errors.As(err, &se) { // it names the URL itself
			from = ""
		}
		return fmt.Errorf("hub: downloading %s%s: %w (the part already fetched is kept in %s; run again to resume)", name, from, err, part)
	}
	if err := verify(part, etag, size); err != nil {
		os.Remove(part)
		return fmt.Errorf("hub: %s from %s: %w; the download was removed, run again", name, u, err)
	}
	if err := flush(part); err != nil {
		return fmt.Errorf("hub: %s: %w", part, err)
	}
	if err := os.Rename(part, blob); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	return nil
}

// flush writes a file's data to disk, so that after a crash the blob's final name never holds
// bytes that were only in the page cache.
func flush(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// retryError marks failures worth another (resumed) attempt: dropped connections, bad ranges.
type retryError struct{ err error }

func (e *retryError) Error() string { return e.err.Error() }

// netError is a failure to talk to the hub at all (as opposed to an HTTP error status).
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// transfer makes one GET, with a Range header when part already holds bytes, and appends the
// body to part while drawing a progress bar.
func (o Options) transfer(ctx context.Context, u, part string, size int64, name, repo, sha string) error {
	var offset int64
	if st, err := os.Stat(part); err == nil {
		offset = st.Size()
	}
	if size > 0 && offset == size {
		return nil
	}
	if size > 0 && offset > size {
		offset = 0
	}
	hdr := http.Header{}
	if offset > 0 {
		hdr.Set("Range", fmt.Sprintf("bytes=%d-", offset))
	}
	resp, err := o.do(ctx, http.MethodGet, u, hdr, o.Client)
	if err != nil {
		return &retryError{err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if start := rangeStart(resp.Header.Get("Content-Range")); start != offset {
			os.Remove(part)
			return &retryError{fmt.Errorf("server resumed at byte %d, expected %d", start, offset)}
		}
	case resp.StatusCode == http.StatusOK:
		offset = 0 // the server ignored the range: start over
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		os.Remove(part)
		return &retryError{fmt.Errorf("server refused to resume at byte %d", offset)}
	case resp.StatusCode >= 500:
		return &retryError{o.statusError(resp, repo, sha, name)}
	default:
		return o.statusError(resp, repo, sha, name)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	f, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	total := size
	if total <= 0 && resp.ContentLength >= 0 {
		total = offset + resp.ContentLength
	}
	bar := progress.NewTo(o.Progress, name, total)
	bar.Add(offset)
	_, cerr := io.Copy(io.MultiWriter(f, bar), resp.Body)
	bar.Done()
	if err := f.Close(); err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	if cerr != nil {
		return &retryError{cerr}
	}
	return nil
}

// rangeStart parses "bytes START-END/TOTAL".
func rangeStart(cr string) int64 {
	s, ok := strings.CutPrefix(cr, "bytes ")
	if !ok {
		return -1
	}
	s, _, _ = strings.Cut(s, "-")
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// verify checks the size and, where the ETag is a content hash, the hash: sha256 for LFS files
// (64 hex digits), git's blob sha1 for small files (40 hex digits).
func verify(path, etag string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if size > 0 && st.Size() != size {
		return fmt.Errorf("got %d bytes, expected %d", st.Size(), size)
	}
	var h hash.Hash
	switch {
	case len(etag) == 64 && isHex(etag):
		h = sha256.New()
	case len(etag) == 40 && isHex(etag):
		h = sha1.New()
		fmt.Fprintf(h, "blob %d\x00", st.Size())
	default:
		return nil
	}
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(etag) {
		return fmt.Errorf("content hash %s does not match the hub's %s", got, etag)
	}
	return nil
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

// do sends one request with the token and a user agent, guarded by o.Timeouts. Go's client
// drops the Authorization header itself if a redirect leaves the hub's domain.
func (o Options) do(ctx context.Context, method, u string, hdr http.Header, c *http.Client) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	req.Header.Set("User-Agent", "slowai-go-hub/1")
	if o.Token != "" {
		req.Header.Set("Authorization", "Bearer "+o.Token)
	}
	resp, err := netguard.Do(c, req, o.Timeouts)
	if err != nil {
		var se *netguard.StallError
		if errors.As(err, &se) { // it names the method and URL itself
			return nil, &netError{fmt.Errorf("hub: %w (set HF_HUB_OFFLINE=1 to use only the cache)", err)}
		}
		return nil, &netError{fmt.Errorf("hub: %s %s: %w (set HF_HUB_OFFLINE=1 to use only the cache)", method, u, err)}
	}
	return resp, nil
}

// statusError explains an HTTP error status in terms of what the user can do.
func (o Options) statusError(resp *http.Response, repo, revision, name string) error {
	what := repo + "@" + revision
	if name != "" {
		what += ": " + name
	}
	msg := resp.Header.Get("X-Error-Message")
	if msg != "" {
		msg = " (" + msg + ")"
	}
	page := o.Endpoint + "/" + repo
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		if o.Token != "" {
			return fmt.Errorf("hub: %s: 401 Unauthorized%s: the access token (HF_TOKEN or Options.Token) was rejected; check it at https://huggingface.co/settings/tokens", what, msg)
		}
		return fmt.Errorf("hub: %s: 401 Unauthorized%s: the repository is gated or private; accept its license at %s while logged in, then set HF_TOKEN (or Options.Token) to an access token from https://huggingface.co/settings/tokens", what, msg, page)
	case http.StatusForbidden:
		return fmt.Errorf("hub: %s: 403 Forbidden%s: your token has no access; accept the license at %s with the account that owns HF_TOKEN", what, msg, page)
	case http.StatusNotFound:
		return fmt.Errorf("hub: %s: 404 Not Found%s: no such repository, revision or file (private repositories also answer 404 without HF_TOKEN)", what, msg)
	}
	return fmt.Errorf("hub: %s: HTTP %s%s from %s", what, resp.Status, msg, resp.Request.URL.Redacted())
}
