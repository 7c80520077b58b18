package qr

import (
	"bytes"
	"context"
	"embed"
	"html/template"
	"net/http"

	"switchboard/connectors"
)

//go:embed assets
var assets embed.FS

// pages are the customer pages. Everything a customer or an admin wrote
// reaches them through html/template only.
var pages = template.Must(template.ParseFS(assets, "assets/pages.html"))

// pageCSP keeps the pages to their own style sheet and scripts.
const pageCSP = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// frame is what every page shows: its language, wording, title and the
// language switch.
type frame struct {
	Lang      string
	T         text
	Title     string
	SwitchURL string
}

func newFrame(lang, path, titleKey string) frame {
	return frame{Lang: lang, T: texts[lang], Title: tr(lang, titleKey), SwitchURL: path + langQuery(other(lang))}
}

// render runs template name with data into an HTML response.
func render(status int, name string, data any) (*connectors.Response, error) {
	var b bytes.Buffer
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		return nil, err
	}
	return htmlResponse(status, b.Bytes()), nil
}

// htmlResponse is a page with the headers every page has: nothing cached
// (forms carry tokens, tracking pages are private), no referrer (a
// tracking page's address is its key), no framing.
func htmlResponse(status int, body []byte) *connectors.Response {
	h := http.Header{}
	h.Set("Content-Security-Policy", pageCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	return &connectors.Response{Status: status, ContentType: "text/html; charset=utf-8", Header: h, Body: body}
}

// messagePage is a page that only says something: an error, a disabled
// code.
type messagePage struct {
	frame
	Heading, Body string
	BackURL       string
}

// refusalPage explains a refusal with the status's page. back, when set,
// is where the customer can try again.
func (c *Connector) refusalPage(lang, path string, status int, back string) (*connectors.Response, error) {
	key, ok := httpStatusTitles[status]
	if !ok {
		key, status = "unavailable", http.StatusServiceUnavailable
	}
	body := tr(lang, key+"_body")
	if status == http.StatusRequestEntityTooLarge {
		l := c.limits()
		body = tr(lang, "toolarge_body", l.maxPhotos, sizeText(l.maxPhoto), sizeText(l.maxTotal))
	}
	p := messagePage{frame: newFrame(lang, path, key+"_title"), Heading: tr(lang, key+"_title"), Body: body, BackURL: back}
	return render(status, "message", p)
}

// static serves the pages' style sheet and scripts, and the print sheet's.
func (c *Connector) static(_ context.Context, r *connectors.Request) (*connectors.Response, error) {
	name := r.Params["name"]
	ct, ok := staticTypes[name]
	if !ok {
		return nil, connectors.Refuse(http.StatusNotFound, "not found")
	}
	b, err := assets.ReadFile("assets/" + name)
	if err != nil {
		return nil, connectors.Refuse(http.StatusNotFound, "not found")
	}
	h := http.Header{}
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	return &connectors.Response{Status: http.StatusOK, ContentType: ct, Header: h, Body: b}, nil
}

var staticTypes = map[string]string{
	"qr.css":    "text/css; charset=utf-8",
	"form.js":   "application/javascript; charset=utf-8",
	"track.js":  "application/javascript; charset=utf-8",
	"print.css": "text/css; charset=utf-8",
	"print.js":  "application/javascript; charset=utf-8",
}
