package server

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/internal/blob"
)

// errNoBlob answers an id that is unknown, malformed, or asked of a server
// without a blob store.
var errNoBlob = fiber.NewError(fiber.StatusNotFound, "not found")

// getBlob serves a stored file (a message's attachment) to any logged-in
// agent. The file is the customer's, not ours: it is never sniffed, runs
// in a sandbox if a browser renders it, and only images, audio and video
// are shown inline. One byte range is honoured; any other Range header gets
// the whole file.
func (s *Server) getBlob(c *fiber.Ctx) error {
	if s.Blobs == nil {
		return errNoBlob
	}
	f, m, err := s.Blobs.Open(c.Params("id"))
	if errors.Is(err, blob.ErrNotFound) {
		return errNoBlob
	}
	if err != nil {
		return fmt.Errorf("server: blob: %w", err)
	}

	start, n, partial := byteRange(c.Get(fiber.HeaderRange), c.Get(fiber.HeaderIfRange) != "", m.Size)
	if start > 0 {
		if _, err := f.Seek(start, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("server: blob: %w", err)
		}
	}

	ct, inline := mediaType(m.ContentType)
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderContentDisposition, disposition(inline, m.Name))
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderContentSecurityPolicy, "sandbox")
	c.Set(fiber.HeaderCacheControl, "private, max-age=86400")
	c.Set(fiber.HeaderAcceptRanges, "bytes")
	if partial {
		c.Set(fiber.HeaderContentRange, fmt.Sprintf("bytes %d-%d/%d", start, start+n-1, m.Size))
		c.Status(fiber.StatusPartialContent)
	}
	// fasthttp sends the stream after the handler returns and closes it
	// (and so the file) when done, also for HEAD and failed writes.
	return c.SendStream(fileSection{io.LimitReader(f, n), f}, int(n))
}

// fileSection is part of an open file; closing it closes the file.
type fileSection struct {
	io.Reader
	io.Closer
}

// mediaType returns the Content-Type to send for a stored one (malformed
// types become application/octet-stream) and whether a browser may show
// it inline: images, audio and video, but nothing that is XML (SVG), which
// can carry script.
func mediaType(stored string) (contentType string, inline bool) {
	mt, params, err := mime.ParseMediaType(stored)
	if err != nil {
		return "application/octet-stream", false
	}
	contentType = mime.FormatMediaType(mt, params)
	if contentType == "" {
		contentType = mt
	}
	top, sub, _ := strings.Cut(mt, "/")
	switch top {
	case "image", "audio", "video":
		inline = !strings.Contains(sub, "svg") && !strings.Contains(sub, "xml")
	}
	return contentType, inline
}

// disposition builds a Content-Disposition value (RFC 6266). A name goes
// both as a plain ASCII fallback and, in full, as RFC 5987 UTF-8.
func disposition(inline bool, name string) string {
	kind := "attachment"
	if inline {
		kind = "inline"
	}
	if name == "" {
		return kind
	}
	var b strings.Builder
	b.WriteString(kind)
	b.WriteString(`; filename="`)
	for _, r := range name {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' || r == '%' {
			r = '_'
		}
		b.WriteRune(r)
	}
	b.WriteString(`"; filename*=UTF-8''`)
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(name); i++ {
		if ch := name[i]; isAttrChar(ch) {
			b.WriteByte(ch)
		} else {
			b.WriteByte('%')
			b.WriteByte(hex[ch>>4])
			b.WriteByte(hex[ch&0x0f])
		}
	}
	return b.String()
}

// isAttrChar reports whether ch may stand unencoded in an RFC 5987 value.
func isAttrChar(ch byte) bool {
	switch {
	case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", ch) >= 0
}

// byteRange reads a Range header against a file of size bytes and returns
// where the answer starts, how many bytes it has, and whether it is a part
// (206). Only a single range of bytes that overlaps the file is served as a
// part. An empty header, another unit, several ranges, bad syntax, a range
// past the end, or an If-Range condition (the server sends no validators,
// so none can match) get the whole file, as RFC 9110 allows, so the route
// never answers 416.
func byteRange(h string, ifRange bool, size int64) (start, n int64, partial bool) {
	spec, ok := strings.CutPrefix(h, "bytes=")
	if !ok || ifRange || strings.Contains(spec, ",") {
		return 0, size, false
	}
	first, last, ok := strings.Cut(strings.TrimSpace(spec), "-")
	if !ok {
		return 0, size, false
	}
	if first == "" { // the last bytes
		suffix, ok := digits(last)
		if !ok || suffix == 0 || size == 0 {
			return 0, size, false
		}
		suffix = min(suffix, size)
		return size - suffix, suffix, true
	}
	from, ok := digits(first)
	if !ok || from >= size {
		return 0, size, false
	}
	to := size - 1
	if last != "" {
		if to, ok = digits(last); !ok || to < from {
			return 0, size, false
		}
	}
	to = min(to, size-1)
	return from, to - from + 1, true
}

// digits parses a non-negative decimal number without sign or spaces.
func digits(s string) (int64, bool) {
	if s == "" || strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}
