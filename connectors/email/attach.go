package email

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"strings"

	"github.com/emersion/go-message/mail"

	"switchboard/connectors"
	"switchboard/internal/blob"
)

// maxAttachBytes bounds the files of one reply, before encoding: base64
// makes them a third larger, 24 MB, which leaves room for the text under
// the 25 MB most mail providers accept (Gmail, Microsoft 365). The relay's
// own limit still applies (a 552 fails the reply with its text).
const maxAttachBytes = 18_000_000

// file is one attachment of a reply, read from the blob store.
type file struct {
	name, contentType string
	data              []byte
}

// files reads a reply's attachments from the blob store. A file that is
// no longer stored, or files too large for mail, fail the reply for good;
// a store that cannot be read now is retried.
func (c *Connector) files(atts []connectors.Attachment) ([]file, error) {
	if len(atts) == 0 {
		return nil, nil
	}
	if c.env.Blobs == nil {
		return nil, connectors.Permanent("attachments_unsupported",
			errors.New("email: no blob store is configured, so replies cannot carry files"))
	}
	out := make([]file, 0, len(atts))
	var total int64
	for i, a := range atts {
		f, meta, err := c.env.Blobs.Open(a.Ref)
		if errors.Is(err, blob.ErrNotFound) {
			return nil, connectors.Permanent("attachment_missing",
				fmt.Errorf("email: attachment %d (%s) is no longer stored: %w", i+1, a.Name, err))
		}
		if err != nil {
			return nil, connectors.Temporary("", fmt.Errorf("email: attachment %d: %w", i+1, err))
		}
		data, err := io.ReadAll(io.LimitReader(f, maxAttachBytes-total+1))
		f.Close()
		if err != nil {
			return nil, connectors.Temporary("", fmt.Errorf("email: attachment %d: %w", i+1, err))
		}
		if total += int64(len(data)); total > maxAttachBytes {
			return nil, &connectors.Error{Code: "too_large",
				Msg: fmt.Sprintf("附件合计超过 %d MB，邮件服务器通常会拒收 · the files add up to more than %d MB, "+
					"more than mail servers commonly accept; send fewer or smaller files", maxAttachBytes/1_000_000, maxAttachBytes/1_000_000)}
		}
		name, ctype := a.Name, a.ContentType
		if strings.TrimSpace(name) == "" {
			name = meta.Name
		}
		if ctype == "" {
			ctype = meta.ContentType
		}
		out = append(out, file{name: fileName(name, i+1), contentType: mediaType(ctype), data: data})
	}
	return out, nil
}

// fileName makes name fit for a header parameter: the last path element,
// on one line, at most 150 characters; "attachment-N" when nothing is left.
func fileName(name string, n int) string {
	name = oneLine(path.Base(strings.ReplaceAll(name, "\\", "/")))
	if r := []rune(name); len(r) > 150 {
		name = string(r[:150])
	}
	if name == "" || name == "." || name == "/" || name == ".." {
		return fmt.Sprintf("attachment-%d", n)
	}
	return name
}

// mediaType is the media type of ct without its parameters (a charset
// other than UTF-8 would not survive go-message, and the bytes go out as
// they are anyway), application/octet-stream when ct is not one.
func mediaType(ct string) string {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || !strings.Contains(mt, "/") || strings.HasPrefix(mt, "multipart/") || mime.FormatMediaType(mt, nil) == "" {
		return "application/octet-stream"
	}
	return mt
}

// write adds f to mw as an attachment: its type, Content-Disposition:
// attachment with the RFC 2231 file name, the bytes in base64.
func (f file) write(mw *mail.Writer) error {
	var h mail.AttachmentHeader
	// The name in Content-Type too, RFC 2047-encoded by go-message, for
	// mail clients older than RFC 2231.
	h.SetContentType(f.contentType, map[string]string{"name": f.name})
	h.Set("Content-Disposition", disposition(f.name))
	h.Set("Content-Transfer-Encoding", "base64")
	w, err := mw.CreateAttachment(h)
	if err != nil {
		return err
	}
	if _, err := w.Write(f.data); err != nil {
		return err
	}
	return w.Close()
}

// disposition is "attachment" with the file name as RFC 2231 has it
// (UTF-8, percent-encoded). The standard library writes a short name; a
// long one (a Chinese name of 30 characters is 270 encoded) is split here
// into numbered continuations of whole characters, so that go-message can
// fold the field into short lines without breaking the name.
func disposition(name string) string {
	const max = 60
	if v := mime.FormatMediaType("attachment", map[string]string{"filename": name}); v != "" && len(v) <= max+20 {
		return v
	}
	var segs []string
	var cur strings.Builder
	for _, r := range name {
		var enc strings.Builder
		for _, c := range []byte(string(r)) {
			if attrChar(c) {
				enc.WriteByte(c)
			} else {
				fmt.Fprintf(&enc, "%%%02X", c)
			}
		}
		if cur.Len()+enc.Len() > max {
			segs = append(segs, cur.String())
			cur.Reset()
		}
		cur.WriteString(enc.String())
	}
	segs = append(segs, cur.String())
	var b strings.Builder
	b.WriteString("attachment")
	for i, s := range segs {
		fmt.Fprintf(&b, "; filename*%d*=", i)
		if i == 0 {
			b.WriteString("utf-8''")
		}
		b.WriteString(s)
	}
	return b.String()
}

// attrChar reports whether c may stand unencoded in an RFC 2231 value.
func attrChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$&+-.^_`|~", c) >= 0
}
