package router

import (
	"fmt"
	"mime"
	"strings"
	"unicode"
	"unicode/utf8"

	"switchboard/connectors"
	"switchboard/internal/blob"
)

// MaxReplyAttachments bounds the files of one reply or note (WeChat
// sends each image as a message of its own).
const MaxReplyAttachments = 9

// Previews in conversation lists of a reply or note without text: for
// pictures, as for a customer's picture, and for other files.
const (
	imagePreview = "[图片 image]"
	filePreview  = "[文件 file]"
)

// activeType reports whether a media type is content a browser would run
// or render as a page (HTML, SVG, any XML, scripts): never attached, so no
// stored file can become a page in the inbox's origin.
func activeType(top, sub string) bool {
	return sub == "" || strings.Contains(sub, "html") || strings.Contains(sub, "svg") || strings.Contains(sub, "xml") ||
		strings.Contains(sub, "javascript") || strings.Contains(sub, "ecmascript") || top == "multipart" || top == "message"
}

// isImage reports whether an attachment (its type canonical) is a picture.
func isImage(a connectors.Attachment) bool { return strings.HasPrefix(a.ContentType, "image/") }

// hasDocument reports whether any attachment is not a picture.
func hasDocument(atts []connectors.Attachment) bool {
	for _, a := range atts {
		if !isImage(a) {
			return true
		}
	}
	return false
}

// checkAttachments validates the files of a reply or note: at most
// MaxReplyAttachments, each a blob id listed once, of a media type that
// is not active content (see activeType), with a displayable name. The
// upload route decides which types exist at all; the channel decides
// which it carries (Reply). It returns them with their content types in
// canonical form.
func checkAttachments(in []connectors.Attachment) ([]connectors.Attachment, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > MaxReplyAttachments {
		return nil, fmt.Errorf("%w: at most %d attachments, not %d", ErrInvalid, MaxReplyAttachments, len(in))
	}
	out := make([]connectors.Attachment, 0, len(in))
	seen := make(map[string]bool, len(in))
	for i, a := range in {
		n := i + 1
		if !blob.ValidID(a.Ref) {
			return nil, fmt.Errorf("%w: attachment %d: ref must be a blob id (32 hex digits)", ErrInvalid, n)
		}
		if seen[a.Ref] {
			return nil, fmt.Errorf("%w: attachment %d: %s is listed twice", ErrInvalid, n, a.Ref)
		}
		seen[a.Ref] = true
		mt, params, err := mime.ParseMediaType(a.ContentType)
		top, sub, _ := strings.Cut(mt, "/")
		if err != nil || activeType(top, sub) {
			return nil, fmt.Errorf("%w: attachment %d: %q cannot be attached", ErrInvalid, n, clip(a.ContentType, 64))
		}
		if ct := mime.FormatMediaType(mt, params); ct != "" {
			a.ContentType = ct
		} else {
			a.ContentType = mt
		}
		if !utf8.ValidString(a.Name) || len(a.Name) > 255 || strings.ContainsFunc(a.Name, unicode.IsControl) {
			return nil, fmt.Errorf("%w: attachment %d: the name must be UTF-8 without control characters, at most 255 bytes", ErrInvalid, n)
		}
		if a.Size < 0 {
			return nil, fmt.Errorf("%w: attachment %d: negative size", ErrInvalid, n)
		}
		out = append(out, a)
	}
	return out, nil
}

// clip shortens s to at most n bytes of whole runes, for error messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// canAttach reports whether account on ch carries images with replies:
// its connector implements connectors.Attacher and says so.
func (r *Router) canAttach(ch connectors.Channel, account string) bool {
	at, ok := connectorAs[connectors.Attacher](r, ch)
	return ok && at.CanAttach(account)
}

// canAttachDocuments reports whether account on ch carries other files
// too (connectors.DocumentAttacher).
func (r *Router) canAttachDocuments(ch connectors.Channel, account string) bool {
	at, ok := connectorAs[connectors.DocumentAttacher](r, ch)
	return ok && at.CanAttachDocuments(account)
}

// connectorAs returns the connector of ch as an optional interface T.
func connectorAs[T any](r *Router, ch connectors.Channel) (T, bool) {
	var zero T
	if r.reg == nil {
		return zero, false
	}
	c, ok := r.reg.Get(ch)
	if !ok {
		return zero, false
	}
	t, ok := c.(T)
	return t, ok
}

// messagePreview is a reply's or note's line in conversation lists: its
// text, or imagePreview for pictures alone, filePreview when there is
// another file.
func messagePreview(text string, atts []connectors.Attachment) string {
	switch {
	case text != "" || len(atts) == 0:
		return preview(text)
	case hasDocument(atts):
		return filePreview
	}
	return imagePreview
}
