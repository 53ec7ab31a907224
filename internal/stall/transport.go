package stall

import (
	"context"
	"errors"
	"io"
	"net/http"
)

// Transport applies Limits to every exchange of Base (nil:
// http.DefaultTransport).
type Transport struct {
	Base   http.RoundTripper
	Limits Limits
}

// StallLimits reports the limits in force, so a client handed this
// transport (or one that forwards StallLimits) does not add its own.
func (t *Transport) StallLimits() Limits { return t.Limits.WithDefaults() }

// Bounded is a RoundTripper that already applies stall limits.
type Bounded interface{ StallLimits() Limits }

// Guard returns hc with its transport under lim. A client already
// bounded is returned as it is: the limits its owner chose stand. A nil
// hc gets a client on http.DefaultTransport. hc's other settings
// (Timeout, redirects, cookies) are kept.
func Guard(hc *http.Client, lim Limits) *http.Client {
	if hc == nil {
		hc = &http.Client{}
	}
	if _, ok := hc.Transport.(Bounded); ok {
		return hc
	}
	cp := *hc
	cp.Transport = &Transport{Base: hc.Transport, Limits: lim}
	return &cp
}

// RoundTrip sends req under the limits.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.Base
	if base == nil {
		base = http.DefaultTransport
	}
	lim := t.Limits.WithDefaults()
	if lim.Off() {
		return base.RoundTrip(req)
	}
	ctx, stop := context.WithCancelCause(req.Context())
	server, call := describe(req)
	x := newExchange(lim, lim.HeaderWait(classOf(req.Context())), stop, server, call)
	out := req.WithContext(ctx)
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = &upload{ReadCloser: req.Body, x: x}
	}
	if req.GetBody != nil {
		out.GetBody = func() (io.ReadCloser, error) {
			b, err := req.GetBody()
			if err != nil || b == nil || b == http.NoBody {
				return b, err
			}
			return &upload{ReadCloser: b, x: x}, nil
		}
	}
	resp, err := base.RoundTrip(out)
	if err != nil {
		x.end()
		stop(nil)
		return nil, x.explain(err)
	}
	x.answered()
	resp.Body = &download{ReadCloser: resp.Body, x: x, stop: stop}
	return resp, nil
}

// explain replaces the cancellation a stall caused with the stall.
func (x *exchange) explain(err error) error {
	if err == nil || errors.Is(err, io.EOF) {
		return err
	}
	if se := x.stalled(); se != nil {
		return se
	}
	return err
}

// upload counts the request body as the transport reads it.
type upload struct {
	io.ReadCloser
	x *exchange
}

func (u *upload) Read(p []byte) (int, error) {
	n, err := u.ReadCloser.Read(p)
	u.x.sent(n, err != nil)
	return n, err
}

// download counts the answer's body as the caller reads it and ends the
// exchange when it is closed.
type download struct {
	io.ReadCloser
	x    *exchange
	stop context.CancelCauseFunc
}

func (d *download) Read(p []byte) (int, error) {
	d.x.readStart()
	n, err := d.ReadCloser.Read(p)
	d.x.readEnd(n, err != nil)
	return n, d.x.explain(err)
}

func (d *download) Close() error {
	d.x.end()
	err := d.ReadCloser.Close()
	d.stop(nil)
	return err
}
