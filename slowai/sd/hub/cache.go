// Package hub downloads Stable Diffusion v1 checkpoints from the Hugging Face Hub into the same
// cache the Python libraries use (~/.cache/huggingface/hub/models--ORG--NAME/{blobs,snapshots,refs}),
// so a model fetched by diffusers is found here and the other way round.
//
// Only the files a diffusers-format SD v1 pipeline needs are fetched (about 2 GB with the fp16
// weights instead of the full repository's tens of GB). Downloads resume from .incomplete files,
// are checked against the hub's sha256 / git hashes, and only then appear under their final name.
// There is no cross-process lock: two programs fetching the same blob at once may spoil each
// other's .incomplete file, which the hash check then rejects (run again).
package hub

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/slowai-go/course/slowai/safefile"
)

// DefaultRepo is the checkpoint the course uses when none is named.
const DefaultRepo = "CompVis/stable-diffusion-v1-4"

// DefaultEndpoint is the public hub; HF_ENDPOINT or Options.Endpoint replace it.
const DefaultEndpoint = "https://huggingface.co"

// Components whose weights are fetched, and the weight file base name each uses in diffusers.
var weightBase = map[string]string{
	"text_encoder": "model",
	"unet":         "diffusion_pytorch_model",
	"vae":          "diffusion_pytorch_model",
}

// Components lists the model folders with weights, in download order (small first).
var Components = []string{"text_encoder", "vae", "unet"}

// ConfigFiles are the non-weight files an SD v1 pipeline reads.
var ConfigFiles = []string{
	"model_index.json",
	"scheduler/scheduler_config.json",
	"tokenizer/vocab.json",
	"tokenizer/merges.txt",
	"tokenizer/tokenizer_config.json",
	"tokenizer/special_tokens_map.json",
	"text_encoder/config.json",
	"unet/config.json",
	"vae/config.json",
}

// WeightNames returns the fp16 and float32 safetensors names of a component, e.g.
// "unet/diffusion_pytorch_model.fp16.safetensors" and "unet/diffusion_pytorch_model.safetensors".
func WeightNames(component string) (fp16, fp32 string, err error) {
	base, ok := weightBase[component]
	if !ok {
		return "", "", fmt.Errorf("hub: unknown component %q, expected one of %v", component, Components)
	}
	return component + "/" + base + ".fp16.safetensors", component + "/" + base + ".safetensors", nil
}

// WeightsFile returns the path of a component's weights inside a snapshot directory, the fp16
// file when present, else the float32 one.
func WeightsFile(snapshotDir, component string) (string, error) {
	fp16, fp32, err := WeightNames(component)
	if err != nil {
		return "", err
	}
	for _, name := range []string{fp16, fp32} {
		p := filepath.Join(snapshotDir, filepath.FromSlash(name))
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("hub: %s: neither %s nor %s present", snapshotDir, fp16, fp32)
}

// CacheDir is where repositories are cached, resolved like huggingface_hub does: HF_HUB_CACHE,
// else HF_HOME/hub, else XDG_CACHE_HOME/huggingface/hub, else ~/.cache/huggingface/hub.
func CacheDir() string {
	if d := firstEnv("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"); d != "" {
		return expandHome(d)
	}
	return filepath.Join(hfHome(), "hub")
}

func hfHome() string {
	if d := os.Getenv("HF_HOME"); d != "" {
		return expandHome(d)
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(expandHome(d), "huggingface")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "."
	}
	return filepath.Join(home, ".cache", "huggingface")
}

func expandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

func firstEnv(keys ...string) string {
	for _, k := range keys {
		if v := os.Getenv(k); v != "" {
			return v
		}
	}
	return ""
}

// envToken is HF_TOKEN (or the legacy HUGGING_FACE_HUB_TOKEN), else the token file written by
// `huggingface-cli login` (HF_TOKEN_PATH or HF_HOME/token).
func envToken() string {
	if t := firstEnv("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"); t != "" {
		return strings.TrimSpace(t)
	}
	path := os.Getenv("HF_TOKEN_PATH")
	if path == "" {
		path = filepath.Join(hfHome(), "token")
	}
	if b, err := os.ReadFile(expandHome(path)); err == nil {
		return strings.TrimSpace(string(b))
	}
	return ""
}

// envOffline reports HF_HUB_OFFLINE set to 1/true/yes/on.
func envOffline() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("HF_HUB_OFFLINE"))) {
	case "1", "true", "yes", "on":
		return true
	}
	return false
}

// repoDir is the cache folder of a model repository: models--ORG--NAME.
func repoDir(cache, repo string) string {
	return filepath.Join(cache, "models--"+strings.ReplaceAll(repo, "/", "--"))
}

func checkRepo(repo string) error {
	parts := strings.Split(repo, "/")
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("hub: repository %q: expected \"org/name\", e.g. %q", repo, DefaultRepo)
	}
	for _, p := range parts {
		if p == "." || p == ".." || strings.ContainsAny(p, " \\:") {
			return fmt.Errorf("hub: repository %q: invalid name part %q", repo, p)
		}
	}
	return nil
}

func isCommit(rev string) bool {
	if len(rev) != 40 {
		return false
	}
	for _, c := range rev {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// writeFileAtomic writes data to a temporary file next to path and renames it into place.
func writeFileAtomic(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return safefile.Write(path, data)
}

// linkIntoSnapshot makes snapshot/name point at the blob with a relative symlink (what
// huggingface_hub does, so the cache can be moved), created under a temporary name and renamed
// so the final name never refers to nothing. Where symlinks are not allowed it copies.
func linkIntoSnapshot(blob, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(dst), blob)
	if err != nil {
		rel = blob
	}
	tmp := fmt.Sprintf("%s.tmp-link-%d", dst, os.Getpid())
	os.Remove(tmp)
	if err := os.Symlink(rel, tmp); err != nil {
		return copyFileAtomic(blob, dst)
	}
	if err := os.Rename(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// copyFileAtomic streams src into a temporary file next to dst and renames it into place.
func copyFileAtomic(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := safefile.Create(dst)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := io.Copy(f, in); err != nil {
		return fmt.Errorf("copying %s to %s: %w", src, dst, err)
	}
	return f.Commit()
}
