package data

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slowai-go/course/slowai/netguard"
)

// server serves body at /good, a body cut short of its announced length at /short, and
// 404 elsewhere.
func server(t *testing.T, body []byte) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/good":
			w.Write(body)
		case "/short":
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.Write(body[:len(body)/2])
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// onlyFile checks that dir holds exactly the named files: no leftovers from failed downloads.
func onlyFiles(t *testing.T, dir string, want ...string) {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("%s holds %v, want %v", dir, got, want)
	}
}

func TestDownload(t *testing.T) {
	body := []byte(strings.Repeat("slowai data bytes ", 5000))
	srv := server(t, body)
	m := md5.Sum(body)
	md5hex := hex.EncodeToString(m[:])

	for _, sum := range []string{sha(body), strings.ToUpper(sha(body)), md5hex} {
		dir := t.TempDir()
		dest := filepath.Join(dir, "sub", "f.bin")
		if err := Download(context.Background(), srv.URL+"/good", dest, sum); err != nil {
			t.Fatalf("sum %s: %v", sum, err)
		}
		got, err := os.ReadFile(dest)
		if err != nil || string(got) != string(body) {
			t.Fatalf("sum %s: dest has %d bytes (err %v), want %d", sum, len(got), err, len(body))
		}
		onlyFiles(t, filepath.Join(dir, "sub"), "f.bin")
	}
}

func TestDownloadFailuresLeaveNoFile(t *testing.T) {
	body := []byte(strings.Repeat("x", 100000))
	srv := server(t, body)
	wrong := sha([]byte("something else"))
	for _, c := range []struct {
		name, path, sum, want string
	}{
		{"truncated", "/short", sha(body), "unexpected EOF"},
		{"bad checksum", "/good", wrong, "checksum mismatch"},
		{"404", "/missing", sha(body), "404"},
		{"checksum not hex", "/good", "zz", "not hex"},
		{"checksum length", "/good", "abcd", "want 64 (SHA-256) or 32 (MD5)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "f.bin")
			err := Download(context.Background(), srv.URL+c.path, dest, c.sum)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), srv.URL+c.path) {
				t.Errorf("error %q should name the URL and say %q", err, c.want)
			}
			onlyFiles(t, dir)
		})
	}
}

func TestDownloadCanceled(t *testing.T) {
	srv := server(t, []byte("abc"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest := filepath.Join(t.TempDir(), "f")
	if err := Download(ctx, srv.URL+"/good", dest, sha([]byte("abc"))); err == nil {
		t.Fatal("canceled context: no error")
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("dest exists after a canceled download")
	}
}

// stallServer serves body at /once, stopping half-way through the first response (and
// answering a Range request for the rest), and at /always, stopping on every request.
// Ranges holds the Range headers received.
func stallServer(t *testing.T, body []byte) (*httptest.Server, *[]string) {
	var mu sync.Mutex
	var ranges []string
	first := true
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		stall := r.URL.Path == "/always" || first
		first = false
		mu.Unlock()
		if !stall {
			http.ServeContent(w, r, "f.bin", time.Time{}, bytes.NewReader(body))
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first
	saved := Timeouts
	Timeouts = netguard.Timeouts{Connect: time.Second, Header: 200 * time.Millisecond, Idle: 200 * time.Millisecond}
	t.Cleanup(func() { Timeouts = saved })
	return srv, &ranges
}

// downloadWithin fails the test if Download has not returned after 10 s.
func downloadWithin(t *testing.T, url, dest, sum string) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- Download(context.Background(), url, dest, sum) }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("Download %s still running after 10s: it hangs", url)
		return nil
	}
}

// TestStalledDownloadResumes: a body that stops arriving is given up after the idle limit and
// the retry asks only for the missing bytes.
func TestStalledDownloadResumes(t *testing.T) {
	body := []byte(strings.Repeat("0123456789", 10000))
	srv, ranges := stallServer(t, body)
	dir := t.TempDir()
	dest := filepath.Join(dir, "f.bin")
	if err := downloadWithin(t, srv.URL+"/once", dest, sha(body)); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, body) {
		t.Errorf("dest has %d bytes, want the body's %d", len(got), len(body))
	}
	if want := fmt.Sprintf("bytes=%d-", len(body)/2); len(*ranges) != 2 || (*ranges)[1] != want {
		t.Errorf("Range headers %q, want [\"\" %q]", *ranges, want)
	}
	onlyFiles(t, dir, "f.bin")
}

// TestStalledDownloadFails: a server that stalls every time ends the call within a few idle
// periods, with an error naming the URL and what stalled, and leaves no temporary file; one
// left by a killed process is removed.
func TestStalledDownloadFails(t *testing.T) {
	body := []byte(strings.Repeat("0123456789", 10000))
	srv, _ := stallServer(t, body)
	dir := t.TempDir()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	leftover := filepath.Join(dir, ".f.bin.tmp-"+strconv.Itoa(cmd.Process.Pid)+"-0")
	os.WriteFile(leftover, []byte("from a killed run"), 0o644)
	err := downloadWithin(t, srv.URL+"/always", filepath.Join(dir, "f.bin"), sha(body))
	want := "GET " + srv.URL + "/always: the body stalled: no data for 200ms after 50000 bytes (tried 3 times)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %v\nwant it to contain %q", err, want)
	}
	onlyFiles(t, dir)
}
