package webchat

import (
	"context"
	"embed"
	"html"
	"net/http"
	"strings"

	"switchboard/connectors"
)

//go:embed assets
var assets embed.FS

func (c *Connector) asset(name, contentType string) connectors.HandlerFunc {
	body, err := assets.ReadFile("assets/" + name)
	if err != nil {
		panic("webchat: missing asset " + name)
	}
	return func(_ context.Context, r *connectors.Request) (*connectors.Response, error) {
		if c.sites[r.Params["site"]] == nil {
			return nil, connectors.Refuse(http.StatusNotFound, "no such web-chat site")
		}
		return &connectors.Response{Status: http.StatusOK, ContentType: contentType, Body: body,
			Header: http.Header{"Cache-Control": {"public, max-age=300"}}}, nil
	}
}

// demo serves a page with the widget, for sites with demo: true.
func (c *Connector) demo(_ context.Context, r *connectors.Request) (*connectors.Response, error) {
	s := c.sites[r.Params["site"]]
	if s == nil || !s.Demo {
		return nil, connectors.Refuse(http.StatusNotFound, "no demo page for this site")
	}
	page, _ := assets.ReadFile("assets/demo.html")
	out := strings.NewReplacer("{{SITE}}", s.ID, "{{TITLE}}", html.EscapeString(s.Name)).Replace(string(page))
	return &connectors.Response{Status: http.StatusOK, ContentType: "text/html; charset=utf-8", Body: []byte(out)}, nil
}
