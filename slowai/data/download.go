package data

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/slowai-go/course/slowai/progress"
)

// httpClient gives up quickly when there is no network (connect, TLS and first byte each
// have a few seconds) but puts no limit on how long a large body may take to arrive.
var httpClient = &http.Client{
	Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: 15 * time.Second,
	},
}

// Download fetches url into dest and checks its checksum before dest appears: the body goes
// to a temporary file next to dest, which is renamed into place only when the whole body
// arrived and the hash matches, so a failed or interrupted download never leaves a file
// that a later run would trust.
//
// sum is a hex digest: 64 digits are read as SHA-256, 32 as MD5 (some data sets, such as
// Fashion-MNIST, publish only MD5s). A progress bar counts the bytes on standard output.
func Download(ctx context.Context, url, dest, sum string) error {
	newHash, err := hasherFor(sum)
	if err != nil {
		return fmt.Errorf("data: Download %s: %w", url, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("data: Download %s: %w", url, err)
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return fmt.Errorf("data: Download: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("data: Download %s: HTTP status %q, want 200 OK", url, resp.Status)
	}

	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("data: Download %s: %w", url, err)
	}
	f, err := os.CreateTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".part-*")
	if err != nil {
		return fmt.Errorf("data: Download %s: %w", url, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("data: Download %s to %s: %w", url, dest, err)
	}

	h := newHash()
	bar := progress.New("download "+filepath.Base(dest), max(resp.ContentLength, 0))
	n, err := io.Copy(io.MultiWriter(f, h, bar), resp.Body)
	bar.Done()
	if err != nil {
		return fail(err)
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return fail(fmt.Errorf("body has %d bytes, server announced %d", n, resp.ContentLength))
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(sum) {
		return fail(fmt.Errorf("checksum mismatch: got %s, want %s", got, sum))
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("data: Download %s to %s: %w", url, dest, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("data: Download %s to %s: %w", url, dest, err)
	}
	return nil
}

// hasherFor picks the hash from the length of the hex digest.
func hasherFor(sum string) (func() hash.Hash, error) {
	if _, err := hex.DecodeString(sum); err != nil {
		return nil, fmt.Errorf("checksum %q is not hex", sum)
	}
	switch len(sum) {
	case 64:
		return sha256.New, nil
	case 32:
		return md5.New, nil
	}
	return nil, fmt.Errorf("checksum %q has %d hex digits, want 64 (SHA-256) or 32 (MD5)", sum, len(sum))
}
