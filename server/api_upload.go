package server

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"switchboard/connectors"
	"switchboard/internal/blob"
	"switchboard/router"
)

// MaxUploadBytes caps an image an agent uploads (WeChat's limit for image
// media); a smaller blobs.max_blob_bytes lowers it.
const MaxUploadBytes = 10 << 20

const (
	// uploadPath is the upload route, the only one whose body may exceed
	// Options.BodyLimit.
	uploadPath = "/api/v1/blobs"
	// multipartSlack is room for the multipart envelope around the file.
	multipartSlack = 64 << 10
)

// uploadTypes are the image types agents may upload, with the file name
// extensions that fit them (the first is added to a name without one).
var uploadTypes = map[string][]string{
	"image/jpeg": {".jpg", ".jpeg"},
	"image/png":  {".png"},
	"image/gif":  {".gif"},
}

// requestConfig runs when a request's header has arrived, before its body
// is read. It raises the body limit for uploads (a POST to uploadPath
// with a bearer token) to what an image may need; every other request
// keeps Options.BodyLimit, which fasthttp enforces while reading, with the
// same 413 as ever. The token is checked here already (one Redis read),
// so without a valid one the larger limit is never granted. A path written differently from the route (another
// case, a trailing slash) is matched as Fiber matches it; anything else
// only falls back to the smaller limit.
func (s *Server) requestConfig(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if s.maxUpload <= 0 || !bytes.Equal(h.Method(), []byte(fiber.MethodPost)) ||
		!bytes.HasPrefix(h.Peek(fiber.HeaderAuthorization), []byte("Bearer ")) {
		return fasthttp.RequestConfig{}
	}
	p := h.RequestURI()
	if i := bytes.IndexByte(p, '?'); i >= 0 {
		p = p[:i]
	}
	if len(p) > 1 {
		p = bytes.TrimRight(p, "/")
	}
	if !bytes.EqualFold(p, []byte(uploadPath)) {
		return fasthttp.RequestConfig{}
	}
	// Only a valid token earns the larger limit: anyone can write
	// "Bearer x", and fasthttp reads the whole body before the handler's
	// own authentication runs.
	tok := strings.TrimSpace(strings.TrimPrefix(string(h.Peek(fiber.HeaderAuthorization)), "Bearer "))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := s.Deps.Auth.Authenticate(ctx, tok); err != nil {
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: max(s.opts.BodyLimit, s.maxUpload+multipartSlack)}
}

// uploaded is the answer to an upload.
type uploaded struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// postBlob stores one image an agent will send with a reply: the raw
// body with its Content-Type (the name, percent-encoded UTF-8, in
// X-Filename), or multipart/form-data with the file in the part named
// "file". Only JPEG, PNG and GIF up to maxUpload bytes are taken, and the
// bytes must be what the type says. The blob is written whole or not at
// all.
func (s *Server) postBlob(c *fiber.Ctx) error {
	if s.Blobs == nil {
		return fiber.NewError(fiber.StatusNotFound, "this server keeps no files (no blob store is configured)")
	}
	limit := int64(s.maxUpload)
	tooLarge := fiber.NewError(fiber.StatusRequestEntityTooLarge,
		fmt.Sprintf("an image may have at most %d bytes", limit))
	if len(c.Request().Header.Peek(fiber.HeaderContentEncoding)) > 0 {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "send the file without Content-Encoding")
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil {
		return unsupportedUpload("")
	}

	var data []byte
	var declared, name string
	if mt == fiber.MIMEMultipartForm {
		form, err := c.MultipartForm()
		if err != nil {
			return fmt.Errorf("%w: malformed multipart body", errBadInput)
		}
		files := form.File["file"]
		if len(files) != 1 {
			return fmt.Errorf("%w: send exactly one part named file", errBadInput)
		}
		fh := files[0]
		if declared, _, err = mime.ParseMediaType(fh.Header.Get(fiber.HeaderContentType)); err != nil || uploadTypes[declared] == nil {
			return unsupportedUpload(declared)
		}
		if fh.Size > limit {
			return tooLarge
		}
		f, err := fh.Open()
		if err != nil {
			return fmt.Errorf("server: upload: %w", err)
		}
		data, err = io.ReadAll(io.LimitReader(f, limit+1))
		f.Close()
		if err != nil {
			return fmt.Errorf("server: upload: %w", err)
		}
		name = fh.Filename
	} else {
		declared = mt
		if uploadTypes[declared] == nil {
			return unsupportedUpload(declared)
		}
		data = c.Request().Body()
		if name, err = url.PathUnescape(c.Get("X-Filename")); err != nil {
			return fmt.Errorf("%w: X-Filename must be percent-encoded UTF-8", errBadInput)
		}
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: the file name is not UTF-8", errBadInput)
	}
	switch {
	case int64(len(data)) > limit:
		return tooLarge
	case len(data) == 0:
		return fmt.Errorf("%w: the file is empty", errBadInput)
	}
	if sniffed := http.DetectContentType(data); sniffed != declared {
		return fiber.NewError(fiber.StatusUnsupportedMediaType,
			fmt.Sprintf("the file is not the %s it claims to be", declared))
	}

	m, err := s.Blobs.Put(c.UserContext(), blob.NewID(), bytes.NewReader(data), uploadName(name, declared), declared)
	if errors.Is(err, blob.ErrTooLarge) {
		return tooLarge
	}
	if err != nil {
		return fmt.Errorf("server: upload: %w", err)
	}
	return c.Status(fiber.StatusCreated).JSON(uploaded{ID: m.ID, Name: m.Name, ContentType: m.ContentType, Size: m.Size})
}

// unsupportedUpload refuses a type that is not an image agents may send.
func unsupportedUpload(got string) error {
	msg := "send a JPEG, PNG or GIF image (Content-Type image/jpeg, image/png or image/gif, or multipart/form-data with a part named file)"
	if got != "" && len(got) <= 100 {
		msg += ", not " + got
	}
	return fiber.NewError(fiber.StatusUnsupportedMediaType, msg)
}

// uploadName is the name an uploaded image is kept under: the sender's
// name (the blob store drops what is unsafe in it), ending in an
// extension that fits its type, "image.png" when there is none.
func uploadName(name, contentType string) string {
	exts := uploadTypes[contentType]
	name = strings.TrimSpace(name)
	if name == "" {
		return "image" + exts[0]
	}
	for _, e := range exts {
		if strings.EqualFold(path.Ext(name), e) {
			return name
		}
	}
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	return name + exts[0]
}

// storedAttachments looks up the images of a reply in the blob store and
// describes each as stored: its name, type and size come from the store,
// not from the client. An unknown or malformed ref is a bad request.
func (s *Server) storedAttachments(in []connectors.Attachment) ([]connectors.Attachment, error) {
	if len(in) == 0 {
		return nil, nil
	}
	if len(in) > router.MaxReplyAttachments {
		return nil, fmt.Errorf("%w: at most %d attachments", errBadInput, router.MaxReplyAttachments)
	}
	if s.Blobs == nil {
		return nil, fmt.Errorf("%w: this server keeps no files, so replies cannot carry attachments", errBadInput)
	}
	out := make([]connectors.Attachment, 0, len(in))
	for i, a := range in {
		if !blob.ValidID(a.Ref) {
			return nil, fmt.Errorf("%w: attachment %d: ref must be the id of an uploaded file (POST %s)", errBadInput, i+1, uploadPath)
		}
		m, err := s.Blobs.Stat(a.Ref)
		if errors.Is(err, blob.ErrNotFound) {
			return nil, fmt.Errorf("%w: attachment %d: no uploaded file has the id %s", errBadInput, i+1, a.Ref)
		}
		if err != nil {
			return nil, fmt.Errorf("server: attachment: %w", err)
		}
		out = append(out, connectors.Attachment{Name: m.Name, ContentType: m.ContentType, Size: m.Size, Ref: a.Ref})
	}
	return out, nil
}
