package qr

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
)

// limits bound what one form may carry.
type limits struct {
	maxPhotos          int
	maxPhoto, maxTotal int64
}

// Limits of the form's own inputs.
const (
	maxParts      = 40       // inputs and files in one form
	maxValueBytes = 16 << 10 // one text input
)

// photoTypes are the photo types taken, as sniffed from their bytes:
// what phones' browsers send (iOS Safari turns HEIC into JPEG for an
// input that accepts only these) and agents' browsers can show.
var photoTypes = map[string]string{"image/jpeg": ".jpg", "image/png": ".png", "image/webp": ".webp"}

// photo is one uploaded photo.
type photo struct {
	name, contentType string
	data              []byte
}

// posted is a parsed form: the first value of each input, and the photos.
type posted struct {
	values map[string]string
	photos []photo
}

// refusal is why a form was refused, as an HTTP status.
type refusal struct {
	status int
	why    string // for the log, never shown
}

func (r *refusal) Error() string { return http.StatusText(r.status) + ": " + r.why }

func refuse(status int, why string) *refusal { return &refusal{status: status, why: why} }

// parseForm reads a form body: multipart/form-data (with photos in inputs
// named "photos") or application/x-www-form-urlencoded. Too many or too
// large photos are 413, a photo that is not JPEG, PNG or WebP is 415,
// anything malformed is 400. It keeps nothing but what it returns.
func parseForm(contentType string, body []byte, l limits) (*posted, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil {
		return nil, refuse(http.StatusUnsupportedMediaType, "no form content type")
	}
	switch mt {
	case "application/x-www-form-urlencoded":
		return parseURLEncoded(body)
	case "multipart/form-data":
		if params["boundary"] == "" {
			return nil, refuse(http.StatusBadRequest, "multipart without a boundary")
		}
		return parseMultipart(body, params["boundary"], l)
	}
	return nil, refuse(http.StatusUnsupportedMediaType, "not a form: "+mt)
}

func parseURLEncoded(body []byte) (*posted, error) {
	q, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed urlencoded form")
	}
	if len(q) > maxParts {
		return nil, refuse(http.StatusBadRequest, "too many inputs")
	}
	p := &posted{values: map[string]string{}}
	for k, vs := range q {
		if len(vs[0]) > maxValueBytes {
			return nil, refuse(http.StatusRequestEntityTooLarge, "input "+k+" too long")
		}
		p.values[k] = vs[0]
	}
	return p, nil
}

func parseMultipart(body []byte, boundary string, l limits) (*posted, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	p := &posted{values: map[string]string{}}
	var total int64
	for n := 0; ; n++ {
		part, err := mr.NextRawPart()
		if errors.Is(err, io.EOF) {
			return p, nil
		}
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "malformed multipart: "+err.Error())
		}
		if n >= maxParts {
			return nil, refuse(http.StatusBadRequest, "too many parts")
		}
		name := part.FormName()
		if name == "photos" {
			ph, err := readPhoto(part, l.maxPhoto)
			if err != nil {
				return nil, err
			}
			if ph == nil {
				continue // an empty file input
			}
			total += int64(len(ph.data))
			switch {
			case len(p.photos) >= l.maxPhotos:
				return nil, refuse(http.StatusRequestEntityTooLarge, "too many photos")
			case total > l.maxTotal:
				return nil, refuse(http.StatusRequestEntityTooLarge, "photos too large in all")
			}
			p.photos = append(p.photos, *ph)
			continue
		}
		if part.FileName() != "" {
			return nil, refuse(http.StatusBadRequest, "a file in input "+name)
		}
		v, err := io.ReadAll(io.LimitReader(part, maxValueBytes+1))
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "malformed multipart: "+err.Error())
		}
		if len(v) > maxValueBytes {
			return nil, refuse(http.StatusRequestEntityTooLarge, "input "+name+" too long")
		}
		if _, dup := p.values[name]; !dup && name != "" {
			p.values[name] = string(v)
		}
	}
}

// readPhoto reads one photo part; nil for an empty file input.
func readPhoto(part *multipart.Part, max int64) (*photo, error) {
	data, err := io.ReadAll(io.LimitReader(part, max+1))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "malformed multipart: "+err.Error())
	}
	if int64(len(data)) > max {
		return nil, refuse(http.StatusRequestEntityTooLarge, "a photo is too large")
	}
	if len(data) == 0 {
		return nil, nil
	}
	ct := http.DetectContentType(data)
	if photoTypes[ct] == "" {
		return nil, refuse(http.StatusUnsupportedMediaType, "a photo of type "+ct)
	}
	return &photo{name: part.FileName(), contentType: ct, data: data}, nil
}
