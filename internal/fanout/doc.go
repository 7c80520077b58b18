// Package fanout delivers events to subscribers on every replica through a
// Redis stream per topic (durable, capped, resumable) plus Redis pub/sub of
// the same name (live).
//
// A subscriber names the last event id it has seen. It first catches up
// from the stream, then follows pub/sub, and catches up again whenever it
// may have missed something: after a pub/sub reconnect, or when it fell
// behind and its buffer overflowed. Events therefore arrive exactly once and
// in stream order, and a slow subscriber never holds up the others. When a
// subscriber's position is older than what the stream still keeps, it gets
// one Resync event and follows on from the newest event.
//
// The package owns no keys of its own: callers name the topic keys.
package fanout
