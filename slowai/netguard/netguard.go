// Package netguard keeps HTTP downloads from hanging. Go's http.Client waits forever by default,
// and an overall time limit does not fit files that take anywhere from a second to an hour. So a
// guarded request has three limits instead: to connect, to get the response headers, and
// between two pieces of the body. A transfer that keeps moving may take as long as it needs; one
// that stops fails with a *StallError naming the URL and what stalled.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// Timeouts are the limits of a guarded request; a zero field takes the value in Defaults.
type Timeouts struct {
	Connect time.Duration // TCP connection and TLS handshake
	Header  time.Duration // from sending the request to the response headers
	Idle    time.Duration // longest wait for the next bytes of the body
}

// Defaults are generous for a slow link yet end a dead transfer within a minute. Tests replace
// them with fractions of a second.
var Defaults = Timeouts{Connect: 15 * time.Second, Header: 30 * time.Second, Idle: 30 * time.Second}

// WithDefaults fills zero fields from Defaults.
func (t Timeouts) WithDefaults() Timeouts {
	if t.Connect <= 0 {
		t.Connect = Defaults.Connect
	}
	if t.Header <= 0 {
		t.Header = Defaults.Header
	}
	if t.Idle <= 0 {
		t.Idle = Defaults.Idle
	}
	return t
}

// Client returns an http.Client whose transport gives up on connections and TLS handshakes
// after t.Connect and honours the proxy environment variables. It has no overall timeout:
// Do watches the rest.
func (t Timeouts) Client() *http.Client {
	t = t.WithDefaults()
	return &http.Client{Transport: &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DialContext:         (&net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: t.Connect,
		MaxIdleConns:        10,
		IdleConnTimeout:     90 * time.Second,
	}}
}

// StallError says which part of a request stopped arriving.
type StallError struct {
	Method, URL string
	Phase       string // "response headers" or "body"
	Wait        time.Duration
	Bytes       int64 // body bytes received before the stall
}

func (e *StallError) Error() string {
	if e.Phase == "body" {
		return fmt.Sprintf("%s %s: the body stalled: no data for %v after %d bytes", e.Method, e.URL, e.Wait, e.Bytes)
	}
	return fmt.Sprintf("%s %s: no response headers within %v (the server accepted the connection but did not answer)", e.Method, e.URL, e.Wait)
}

// Do sends req with c and watches it: if the response headers take longer than t.Header, or
// the body then sends nothing for t.Idle, the request is cancelled and the call or the body's
// Read fails with a *StallError. Close the body as usual.
func Do(c *http.Client, req *http.Request, t Timeouts) (*http.Response, error) {
	t = t.WithDefaults()
	ctx, cancel := context.WithCancelCause(req.Context())
	stall := &StallError{Method: req.Method, URL: req.URL.Redacted(), Phase: "response headers", Wait: t.Header}
	var mu sync.Mutex // guards stall's fields, which the timer and the reader both touch
	timer := time.AfterFunc(t.Header, func() {
		mu.Lock()
		e := *stall
		mu.Unlock()
		cancel(&e)
	})
	resp, err := c.Do(req.WithContext(ctx))
	if err != nil {
		timer.Stop()
		var se *StallError
		if errors.As(context.Cause(ctx), &se) {
			err = se
		}
		cancel(nil)
		return nil, err
	}
	mu.Lock()
	stall.Phase, stall.Wait = "body", t.Idle
	mu.Unlock()
	if timer.Stop() { // else the header limit fired as the headers arrived: reads will say so
		timer.Reset(t.Idle)
	}
	resp.Body = &watchedBody{rc: resp.Body, ctx: ctx, cancel: cancel, timer: timer, idle: t.Idle, mu: &mu, stall: stall}
	return resp, nil
}

// watchedBody restarts the idle timer whenever bytes arrive and turns the cancellation the
// timer causes into the StallError.
type watchedBody struct {
	rc     io.ReadCloser
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	idle   time.Duration
	mu     *sync.Mutex
	stall  *StallError
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		b.mu.Lock()
		b.stall.Bytes += int64(n)
		b.mu.Unlock()
		b.timer.Reset(b.idle)
	}
	if err != nil && err != io.EOF {
		var se *StallError
		if errors.As(context.Cause(b.ctx), &se) {
			err = se
		}
	}
	return n, err
}

func (b *watchedBody) Close() error {
	b.timer.Stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}
