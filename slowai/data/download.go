package data

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/slowai-go/course/slowai/netguard"
	"github.com/slowai-go/course/slowai/progress"
	"github.com/slowai-go/course/slowai/safefile"
)

// Timeouts bound each download's connection, wait for response headers and wait for the next
// body bytes (zero fields: netguard.Defaults); tests shorten them.
var Timeouts netguard.Timeouts

// attempts is how often Download tries one file; each retry resumes where the last one stopped.
const attempts = 3

// Download fetches url into dest and checks its checksum before dest appears: the body goes
// to a temporary file next to dest, which is renamed into place only when the whole body
// arrived and the hash matches, so a failed or interrupted download never leaves a file
// that a later run would trust. A transfer that stalls (see Timeouts) or drops is retried,
// asking the server for the remaining bytes only; after the last attempt the temporary file
// is removed, and one left by a killed process is removed by the next download of dest.
//
// sum is a hex digest: 64 digits are read as SHA-256, 32 as MD5 (some data sets, such as
// Fashion-MNIST, publish only MD5s). A progress bar counts the bytes on standard output.
func Download(ctx context.Context, url, dest, sum string) error {
	newHash, err := hasherFor(sum)
	if err != nil {
		return fmt.Errorf("data: Download %s: %w", url, err)
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return fmt.Errorf("data: Download %s: %w", url, err)
	}
	f, err := safefile.Create(dest)
	if err != nil {
		return fmt.Errorf("data: Download %s: %w", url, err)
	}
	defer f.Abort() // no-op after Commit
	fail := func(err error) error { return fmt.Errorf("data: Download %s to %s: %w", url, dest, err) }
	client := Timeouts.Client()
	for try := 1; ; try++ {
		err := fetchRest(ctx, client, url, f.File, filepath.Base(dest))
		if err == nil {
			break
		}
		var re *retryable
		if !errors.As(err, &re) || try == attempts || ctx.Err() != nil {
			if errors.As(err, &re) {
				err = fmt.Errorf("%w (tried %d times)", re.err, try)
			}
			return fail(err)
		}
		fmt.Fprintf(os.Stderr, "data: %v; resuming (attempt %d of %d)\n", re.err, try+1, attempts)
	}
	h := newHash()
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fail(err)
	}
	if _, err := io.Copy(h, f); err != nil {
		return fail(err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(sum) {
		return fail(fmt.Errorf("checksum mismatch: got %s, want %s", got, sum))
	}
	if err := f.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

// retryable marks failures worth another attempt: stalls, dropped connections, server errors.
type retryable struct{ err error }

func (e *retryable) Error() string { return e.err.Error() }

// fetchRest appends to f what the server has beyond f's current size (a Range request), or
// rewrites f from the start if the server ignores the range.
func fetchRest(ctx context.Context, client *http.Client, url string, f *os.File, name string) error {
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := netguard.Do(client, req, Timeouts)
	if err != nil {
		return &retryable{err}
	}
	defer resp.Body.Close()
	switch {
	case have > 0 && resp.StatusCode == http.StatusPartialContent:
		var start int64 = -1
		fmt.Sscanf(resp.Header.Get("Content-Range"), "bytes %d-", &start)
		if start != have {
			return fmt.Errorf("server resumed at byte %d (Content-Range %q), asked for %d", start, resp.Header.Get("Content-Range"), have)
		}
	case resp.StatusCode == http.StatusOK:
		if err := f.Truncate(0); err != nil {
			return err
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		have = 0
	case resp.StatusCode >= 500:
		return &retryable{fmt.Errorf("HTTP status %q", resp.Status)}
	default:
		return fmt.Errorf("HTTP status %q, want 200 OK", resp.Status)
	}
	total := int64(0)
	if resp.ContentLength >= 0 {
		total = have + resp.ContentLength
	}
	bar := progress.New("download "+name, total)
	bar.Add(have)
	n, err := io.Copy(io.MultiWriter(f, bar), resp.Body)
	bar.Done()
	if err != nil {
		return &retryable{err}
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return &retryable{fmt.Errorf("body has %d bytes, server announced %d", n, resp.ContentLength)}
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
