package qr

import (
	"context"
	"net/http"

	"switchboard/connectors"
)

// printSheet serves GET /qr/print: a static page whose script signs in
// like the inbox (it reuses the inbox's token in this tab's
// sessionStorage, or asks for e-mail and password) and lists the codes
// through GET /api/v1/qr/codes with that bearer token, as cards with
// image and label, laid out for printing. The page itself holds no data,
// so it needs no authentication of its own.
func (c *Connector) printSheet(_ context.Context, _ *connectors.Request) (*connectors.Response, error) {
	b, err := assets.ReadFile("assets/print.html")
	if err != nil {
		return nil, err
	}
	resp := htmlResponse(http.StatusOK, b)
	resp.Header.Set("Cache-Control", "no-cache")
	return resp, nil
}
