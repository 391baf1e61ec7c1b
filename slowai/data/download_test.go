package data

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
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
