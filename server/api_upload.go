package server

import (
	"archive/zip"
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

// MaxDocumentBytes caps a document an agent uploads (a PDF, an Office
// file, a zip) to send by e-mail: base64 makes it a third larger, 21 MB,
// still under the 25 MB most mail providers accept. A smaller
// blobs.max_blob_bytes lowers it.
const MaxDocumentBytes = 15 << 20

const (
	// uploadPath is the upload route, the only one whose body may exceed
	// Options.BodyLimit.
	uploadPath = "/api/v1/blobs"
	// multipartSlack is room for the multipart envelope around the file.
	multipartSlack = 64 << 10
)

// uploadType is a type of file agents may upload.
type uploadType struct {
	// exts are the file name extensions that fit the type; the first is
	// added to a name without one.
	exts []string
	// document is set for documents, which have their own size limit
	// (MaxDocumentBytes) and are sent by e-mail only.
	document bool
	// is reports whether the bytes are what the type says, given what
	// http.DetectContentType makes of them.
	is func(data []byte, sniffed string) bool
}

// The Office Open XML types, by their long names.
const (
	docxType = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
	xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	pptxType = "application/vnd.openxmlformats-officedocument.presentationml.presentation"
)

// uploadTypes are the files agents may upload: images any channel that
// carries attachments can send, and documents for e-mail customers.
var uploadTypes = map[string]uploadType{
	"image/jpeg":      {exts: []string{".jpg", ".jpeg"}, is: sniffedAs("image/jpeg")},
	"image/png":       {exts: []string{".png"}, is: sniffedAs("image/png")},
	"image/gif":       {exts: []string{".gif"}, is: sniffedAs("image/gif")},
	"application/pdf": {exts: []string{".pdf"}, document: true, is: sniffedAs("application/pdf")},
	"text/plain":      {exts: []string{".txt", ".text", ".log"}, document: true, is: sniffedAs("text/plain")},
	"text/csv":        {exts: []string{".csv"}, document: true, is: sniffedAs("text/plain")},
	"application/zip": {exts: []string{".zip"}, document: true, is: zipWith()},
	docxType:          {exts: []string{".docx"}, document: true, is: zipWith("[Content_Types].xml", "word/document.xml")},
	xlsxType:          {exts: []string{".xlsx"}, document: true, is: zipWith("[Content_Types].xml", "xl/workbook.xml")},
	pptxType:          {exts: []string{".pptx"}, document: true, is: zipWith("[Content_Types].xml", "ppt/presentation.xml")},
}

// uploadAliases are other names browsers give these types: Windows
// declares a zip as application/x-zip-compressed, and a .csv as
// application/vnd.ms-excel where Excel is installed (a real .xls is then
// refused, as its bytes are not text).
var uploadAliases = map[string]string{
	"application/x-zip-compressed": "application/zip",
	"application/vnd.ms-excel":     "text/csv",
}

// sniffedAs is an uploadType.is for types http.DetectContentType names:
// its answer, without parameters, must be want.
func sniffedAs(want string) func([]byte, string) bool {
	return func(_ []byte, sniffed string) bool {
		mt, _, _ := mime.ParseMediaType(sniffed)
		return mt == want
	}
}

// zipWith is an uploadType.is for zip archives that hold the named files
// (an Office document's parts); only the archive's directory is read.
func zipWith(names ...string) func([]byte, string) bool {
	return func(data []byte, sniffed string) bool {
		if sniffed != "application/zip" {
			return false
		}
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return false
		}
		need := make(map[string]bool, len(names))
		for _, n := range names {
			need[n] = true
		}
		for _, f := range zr.File {
			delete(need, f.Name)
		}
		return len(need) == 0
	}
}

// docLimit is the largest document an agent may upload, 0 without a blob
// store.
func (s *Server) docLimit() int {
	if s.Blobs == nil {
		return 0
	}
	return int(min(s.Blobs.MaxBlob(), MaxDocumentBytes))
}

// requestConfig runs when a request's header has arrived, before its body
// is read. It raises the body limit for uploads (a POST to uploadPath
// with a bearer token) to what an image or a document may need; every other request
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
	return fasthttp.RequestConfig{MaxRequestBodySize: max(s.opts.BodyLimit, max(s.maxUpload, s.docLimit())+multipartSlack)}
}

// uploaded is the answer to an upload.
type uploaded struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// postBlob stores one file an agent will send with a reply: the raw body
// with its Content-Type (the name, percent-encoded UTF-8, in X-Filename),
// or multipart/form-data with the file in the part named "file". Only the
// uploadTypes are taken, images up to maxUpload bytes and documents up to
// docLimit, and the bytes must be what the type says. The blob is written
// whole or not at all.
func (s *Server) postBlob(c *fiber.Ctx) error {
	if s.Blobs == nil {
		return fiber.NewError(fiber.StatusNotFound, "this server keeps no files (no blob store is configured)")
	}
	if len(c.Request().Header.Peek(fiber.HeaderContentEncoding)) > 0 {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "send the file without Content-Encoding")
	}
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil {
		return unsupportedUpload("")
	}

	var data []byte
	var declared, name string
	var typ uploadType
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
		if declared, _, err = mime.ParseMediaType(fh.Header.Get(fiber.HeaderContentType)); err != nil {
			return unsupportedUpload("")
		}
		if declared, typ, err = s.uploadTypeOf(declared); err != nil {
			return err
		}
		limit := s.limitOf(typ)
		if fh.Size > limit {
			return tooLarge(typ, limit)
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
		if declared, typ, err = s.uploadTypeOf(mt); err != nil {
			return err
		}
		data = c.Request().Body()
		if name, err = url.PathUnescape(c.Get("X-Filename")); err != nil {
			return fmt.Errorf("%w: X-Filename must be percent-encoded UTF-8", errBadInput)
		}
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w: the file name is not UTF-8", errBadInput)
	}
	limit := s.limitOf(typ)
	switch {
	case int64(len(data)) > limit:
		return tooLarge(typ, limit)
	case len(data) == 0:
		return fmt.Errorf("%w: the file is empty", errBadInput)
	}
	if !typ.is(data, http.DetectContentType(data)) {
		return fiber.NewError(fiber.StatusUnsupportedMediaType,
			fmt.Sprintf("the file is not the %s it claims to be", declared))
	}

	m, err := s.Blobs.Put(c.UserContext(), blob.NewID(), bytes.NewReader(data), uploadName(name, declared), declared)
	if errors.Is(err, blob.ErrTooLarge) {
		return tooLarge(typ, limit)
	}
	if err != nil {
		return fmt.Errorf("server: upload: %w", err)
	}
	return c.Status(fiber.StatusCreated).JSON(uploaded{ID: m.ID, Name: m.Name, ContentType: m.ContentType, Size: m.Size})
}

// uploadTypeOf looks up a declared media type (an alias stands for its
// type) among the uploadTypes.
func (s *Server) uploadTypeOf(declared string) (string, uploadType, error) {
	if alias, ok := uploadAliases[declared]; ok {
		declared = alias
	}
	typ, ok := uploadTypes[declared]
	if !ok {
		return "", uploadType{}, unsupportedUpload(declared)
	}
	return declared, typ, nil
}

// limitOf is the size limit of an upload of type typ.
func (s *Server) limitOf(typ uploadType) int64 {
	if typ.document {
		return int64(s.docLimit())
	}
	return int64(s.maxUpload)
}

// tooLarge refuses a file over limit.
func tooLarge(typ uploadType, limit int64) error {
	what := "an image"
	if typ.document {
		what = "a document"
	}
	return fiber.NewError(fiber.StatusRequestEntityTooLarge, fmt.Sprintf("%s may have at most %d bytes", what, limit))
}

// unsupportedUpload refuses a type that is not one agents may send.
func unsupportedUpload(got string) error {
	msg := "send a JPEG, PNG or GIF image, or a PDF, text, CSV, Word (.docx), Excel (.xlsx), PowerPoint (.pptx) or zip file " +
		"(its own Content-Type, or multipart/form-data with a part named file)"
	if got != "" && len(got) <= 100 {
		msg += ", not " + got
	}
	return fiber.NewError(fiber.StatusUnsupportedMediaType, msg)
}

// uploadName is the name an uploaded file is kept under: the sender's
// name (the blob store drops what is unsafe in it), ending in an
// extension that fits its type; "image.png" or "document.pdf" when there
// is none.
func uploadName(name, contentType string) string {
	typ := uploadTypes[contentType]
	name = strings.TrimSpace(name)
	if name == "" {
		if typ.document {
			return "document" + typ.exts[0]
		}
		return "image" + typ.exts[0]
	}
	for _, e := range typ.exts {
		if strings.EqualFold(path.Ext(name), e) {
			return name
		}
	}
	if r := []rune(name); len(r) > 100 {
		name = string(r[:100])
	}
	return name + typ.exts[0]
}

// storedAttachments looks up the files of a reply in the blob store and
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
