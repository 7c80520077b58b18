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

// MaxReplyAttachments bounds the images of one reply or note (WeChat
// sends each as a message of its own).
const MaxReplyAttachments = 9

// imagePreview stands for pictures without text in conversation lists,
// as it does for a customer's picture.
const imagePreview = "[图片 image]"

// checkAttachments validates the files of a reply or note: at most
// MaxReplyAttachments, each a blob id listed once, an image (not SVG or
// another XML type) and a displayable name. It returns them with their
// content types in canonical form.
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
		if err != nil || top != "image" || sub == "" || strings.Contains(sub, "svg") || strings.Contains(sub, "xml") {
			return nil, fmt.Errorf("%w: attachment %d: only images can be attached, not %q", ErrInvalid, n, clip(a.ContentType, 64))
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
	if r.reg == nil {
		return false
	}
	c, ok := r.reg.Get(ch)
	if !ok {
		return false
	}
	at, ok := c.(connectors.Attacher)
	return ok && at.CanAttach(account)
}

// messagePreview is a reply's or note's line in conversation lists: its
// text, or imagePreview for pictures alone.
func messagePreview(text string, atts []connectors.Attachment) string {
	if text == "" && len(atts) > 0 {
		return imagePreview
	}
	return preview(text)
}
