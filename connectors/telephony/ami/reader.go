package ami

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Bounds of what one peer may send: a longer line or a larger packet ends
// the connection instead of growing memory. Asterisk's call and agent
// events are a few hundred bytes to a few KiB.
const (
	maxLine   = 16 << 10  // bytes in one line, with its ending
	maxPacket = 256 << 10 // bytes in one packet
	maxFields = 1024      // fields in one packet
)

// Framing errors: the peer is not speaking AMI, or not within bounds.
var (
	ErrLineTooLong    = errors.New("ami: line too long")
	ErrPacketTooLarge = errors.New("ami: packet too large")
	ErrNotAMI         = errors.New("ami: not an Asterisk manager")
)

// reader reads AMI's framing from a stream: one banner line, then packets
// of "Key: Value" lines, each ended by an empty line. It accepts bare LF
// for CRLF, a key without the space after its colon, and blank lines
// between packets; a line without a colon is skipped.
type reader struct {
	br                   *bufio.Reader
	maxPacket, maxFields int
}

func newReader(r io.Reader) *reader {
	return newReaderSize(r, maxLine, maxPacket, maxFields)
}

// newReaderSize is newReader with other bounds; line is at least 16.
func newReaderSize(r io.Reader, line, packet, fields int) *reader {
	return &reader{br: bufio.NewReaderSize(r, line), maxPacket: packet, maxFields: fields}
}

// line returns the next line without its ending. The slice is valid until
// the next read.
func (r *reader) line() ([]byte, error) {
	b, err := r.br.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, fmt.Errorf("%w (over %d bytes)", ErrLineTooLong, r.br.Size())
	case err == io.EOF && len(b) > 0:
		return nil, io.ErrUnexpectedEOF
	case err != nil:
		return nil, err
	}
	b = b[:len(b)-1]
	return bytes.TrimSuffix(b, []byte{'\r'}), nil
}

// banner reads the greeting Asterisk sends first, e.g. "Asterisk Call
// Manager/5.0.3", and returns it.
func (r *reader) banner() (string, error) {
	b, err := r.line()
	if err != nil {
		return "", fmt.Errorf("ami: reading the banner: %w", err)
	}
	s := string(b)
	if !strings.HasPrefix(s, "Asterisk Call Manager") {
		return "", fmt.Errorf("%w: its greeting is %q", ErrNotAMI, cut(s, 80))
	}
	return s, nil
}

// packet reads the next packet. At the end of the stream between packets
// it returns io.EOF; inside one, io.ErrUnexpectedEOF.
func (r *reader) packet() (packet, error) {
	var p packet
	size := 0
	for {
		b, err := r.line()
		if err != nil {
			if err == io.EOF && size > 0 {
				err = io.ErrUnexpectedEOF
			}
			return packet{}, err
		}
		if len(b) == 0 {
			if len(p.fields) > 0 {
				return p, nil
			}
			size = 0 // a blank line between packets, or after skipped lines
			continue
		}
		size += len(b) + 2
		if size > r.maxPacket {
			return packet{}, fmt.Errorf("%w (over %d bytes)", ErrPacketTooLarge, r.maxPacket)
		}
		k, v, ok := bytes.Cut(b, []byte{':'})
		if !ok {
			continue
		}
		if len(p.fields) == r.maxFields {
			return packet{}, fmt.Errorf("%w (over %d fields)", ErrPacketTooLarge, r.maxFields)
		}
		p.fields = append(p.fields, field{key: string(bytes.TrimSpace(k)), value: string(bytes.TrimSpace(v))})
	}
}

// cut shortens s to at most n bytes for a log line or an error.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
