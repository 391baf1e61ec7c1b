package netguard

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

var fast = Timeouts{Connect: time.Second, Header: 150 * time.Millisecond, Idle: 150 * time.Millisecond}

// server answers /silent never, /stall with 5 bytes and then nothing, /slow with a byte every
// 50 ms (slower in total than Idle, but never idle that long), and /ok at once.
func server(t *testing.T) *httptest.Server {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := func() {
			select {
			case <-r.Context().Done():
			case <-release:
			}
		}
		switch r.URL.Path {
		case "/silent":
			wait()
		case "/stall":
			w.Header().Set("Content-Length", "10")
			w.Write([]byte("12345"))
			w.(http.Flusher).Flush()
			wait()
		case "/slow":
			for i := range 8 {
				w.Write([]byte{byte('a' + i)})
				w.(http.Flusher).Flush()
				time.Sleep(50 * time.Millisecond)
			}
		default:
			w.Write([]byte("hello"))
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: lets blocked handlers return
	return srv
}

func get(t *testing.T, url string) (string, error) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	done := make(chan struct{})
	var body []byte
	var err error
	go func() {
		defer close(done)
		var resp *http.Response
		resp, err = Do(fast.Client(), req, fast)
		if err != nil {
			return
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("GET %s still running after 5s", url)
	}
	return string(body), err
}

func TestStalls(t *testing.T) {
	srv := server(t)
	body, err := get(t, srv.URL+"/ok")
	if err != nil || body != "hello" {
		t.Errorf("/ok: %q, %v", body, err)
	}
	body, err = get(t, srv.URL+"/slow")
	if err != nil || body != "abcdefgh" {
		t.Errorf("/slow (400 ms in all, never idle 150 ms): %q, %v", body, err)
	}
	var se *StallError
	_, err = get(t, srv.URL+"/silent")
	if !errors.As(err, &se) || se.Phase != "response headers" ||
		!strings.Contains(err.Error(), "GET "+srv.URL+"/silent: no response headers within 150ms") {
		t.Errorf("/silent: %v", err)
	}
	_, err = get(t, srv.URL+"/stall")
	if !errors.As(err, &se) || se.Phase != "body" || se.Bytes != 5 ||
		!strings.Contains(err.Error(), "GET "+srv.URL+"/stall: the body stalled: no data for 150ms after 5 bytes") {
		t.Errorf("/stall: %v", err)
	}
}
