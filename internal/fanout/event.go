package fanout

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Resync is the type of the event a subscriber receives when events it
// asked for are no longer kept: the client should refetch its state.
const Resync = "resync"

// Event is one published event.
type Event struct {
	// ID is the stream id, empty for ephemeral (pub/sub only) events.
	ID   string          `json:"id,omitempty"`
	Type string          `json:"type"`
	Data json.RawMessage `json:"data,omitempty"`
}

// Encode renders an event as published on pub/sub: "id\ntype\ndata".
// Lua scripts that publish directly use this format; id is empty for
// ephemeral events.
func Encode(id, typ string, data []byte) string {
	var b strings.Builder
	b.Grow(len(id) + len(typ) + len(data) + 2)
	b.WriteString(id)
	b.WriteByte('\n')
	b.WriteString(typ)
	b.WriteByte('\n')
	b.Write(data)
	return b.String()
}

func decode(payload string) (Event, bool) {
	id, rest, ok := strings.Cut(payload, "\n")
	if !ok {
		return Event{}, false
	}
	typ, data, ok := strings.Cut(rest, "\n")
	if !ok {
		return Event{}, false
	}
	ev := Event{ID: id, Type: typ}
	if data != "" {
		ev.Data = json.RawMessage(data)
	}
	return ev, true
}

// streamID is a parsed Redis stream id "ms-seq".
type streamID struct{ ms, seq uint64 }

func parseID(s string) (streamID, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		b = "0"
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, false
	}
	return streamID{ms, seq}, true
}

func (a streamID) less(b streamID) bool {
	return a.ms < b.ms || (a.ms == b.ms && a.seq < b.seq)
}

// After reports whether stream id a comes after b. Ids that do not parse
// never come after anything.
func After(a, b string) bool {
	x, ok1 := parseID(a)
	y, ok2 := parseID(b)
	return ok1 && ok2 && y.less(x)
}

// ValidID reports whether s is a stream id a client may resume from.
//
// The largest id is refused: Redis cannot read after it (an exclusive
// range from it is an error), and no event ever has it.
func ValidID(s string) bool {
	id, ok := parseID(s)
	return ok && !bytes.ContainsAny([]byte(s), " \n") && !(id.ms == math.MaxUint64 && id.seq == math.MaxUint64)
}
