package stall

import (
	"context"
	"sync"
	"time"
)

// phase of one exchange, as the timer judges it.
type phase int

const (
	waiting   phase = iota // for the answer's headers (or the first body byte read)
	sending                // the transport is reading the request body
	receiving              // the caller reads the answer's body
	done
)

// exchange is one request's progress and its single timer. The timer
// fires once per window; what it checks depends on the phase.
type exchange struct {
	lim        Limits
	headerWait time.Duration
	stop       context.CancelCauseFunc
	server     string
	call       string

	mu      sync.Mutex
	ph      phase
	timer   *time.Timer
	armed   bool  // receiving: a window is being judged
	moved   int64 // bytes in the current window
	reading bool  // receiving: a Read is outstanding
	readIn  bool  // receiving: a Read ran in the current window
	err     *Error
}

func newExchange(lim Limits, headerWait time.Duration, stop context.CancelCauseFunc, server, call string) *exchange {
	x := &exchange{lim: lim, headerWait: headerWait, stop: stop, server: server, call: call}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.timer = time.AfterFunc(headerWait, x.fire)
	x.armed = true
	return x
}

// stalled is the error the exchange ended with, nil while it has not.
func (x *exchange) stalled() *Error {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.err
}

// fire judges the window that just ended.
func (x *exchange) fire() {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch x.ph {
	case waiting:
		x.fail(NoAnswer, x.headerWait)
	case sending:
		if x.moved < x.lim.Floor {
			x.fail(Upload, x.lim.Idle)
			return
		}
		x.next()
	case receiving:
		// A caller that reads nothing (busy writing to disk) is not
		// the server's stall: only windows in which it read count.
		if !x.reading && !x.readIn {
			x.armed = false
			return
		}
		if x.moved < x.lim.Floor {
			x.fail(Download, x.lim.Idle)
			return
		}
		x.next()
	}
}

// next starts another window. Called with mu held.
func (x *exchange) next() {
	x.moved, x.readIn, x.armed = 0, false, true
	x.timer.Reset(x.lim.Idle)
}

// fail ends the exchange as stalled. Called with mu held.
func (x *exchange) fail(p Phase, limit time.Duration) {
	x.err = &Error{Server: x.server, Call: x.call, Phase: p, Limit: limit, Floor: x.lim.Floor}
	x.ph = done
	x.stop(x.err)
}

// sent counts request-body bytes the transport read; eof says the body
// is all read, so the wait for the answer starts.
func (x *exchange) sent(n int, eof bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	switch {
	case x.ph == done || x.ph == receiving:
	case eof:
		x.ph = waiting
		x.timer.Reset(x.headerWait)
	case x.ph == waiting:
		x.ph = sending
		x.next()
		x.moved += int64(n)
	default:
		x.moved += int64(n)
	}
}

// answered: the headers came; the body is judged while it is read.
func (x *exchange) answered() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ph == done {
		return
	}
	x.ph = receiving
	x.timer.Stop()
	x.armed = false
}

// readStart and readEnd bracket each Read of the answer's body.
func (x *exchange) readStart() {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ph != receiving {
		return
	}
	x.reading = true
	if !x.armed {
		x.next()
	}
}

func (x *exchange) readEnd(n int, finished bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.ph != receiving {
		return
	}
	x.reading, x.readIn = false, true
	x.moved += int64(n)
	if finished {
		x.finish()
	}
}

// end stops judging: the exchange finished or was abandoned.
func (x *exchange) end() {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.finish()
}

func (x *exchange) finish() {
	if x.ph != done {
		x.ph = done
	}
	x.timer.Stop()
}
