// Package wsout is the outgoing side of a WebSocket connection: a bounded
// queue drained by the connection's one writer goroutine. A client that
// does not keep up is disconnected instead of slowing anyone else down; it
// reconnects and resumes from the last event it saw.
package wsout

import (
	"context"
	"errors"
	"sync"
)

// TextMessage is the WebSocket text frame type (RFC 6455).
const TextMessage = 1

// ErrSlowClient is the cancel cause when a client's queue overflowed.
var ErrSlowClient = errors.New("wsout: client too slow; closed so it resumes")

// Conn is the part of a WebSocket connection the writer uses.
type Conn interface {
	WriteMessage(messageType int, data []byte) error
	Close() error
}

// Writer owns the writes to one connection.
type Writer struct {
	out    chan []byte
	cancel context.CancelCauseFunc
	wg     sync.WaitGroup
}

// Start begins writing to c. When ctx ends (or a write fails, or the queue
// overflows, which cancel ctx), the writer stops and c is closed, so a
// blocked read on c returns at once. Wait before the connection is
// released.
func Start(ctx context.Context, cancel context.CancelCauseFunc, c Conn, queue int) *Writer {
	w := &Writer{out: make(chan []byte, queue), cancel: cancel}
	w.wg.Add(2)
	go func() {
		defer w.wg.Done()
		<-ctx.Done()
		_ = c.Close()
	}()
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-ctx.Done():
				return
			case b := <-w.out:
				if err := c.WriteMessage(TextMessage, b); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	return w
}

// Send queues one frame without blocking; false means the client is too
// slow and the connection is being closed.
func (w *Writer) Send(b []byte) bool {
	select {
	case w.out <- b:
		return true
	default:
		w.cancel(ErrSlowClient)
		return false
	}
}

// Wait returns once the writer and the closer have stopped.
func (w *Writer) Wait() { w.wg.Wait() }
