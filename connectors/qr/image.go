package qr

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/skip2/go-qrcode"

	"switchboard/connectors"
	"switchboard/connectors/qr/codes"
)

// Image sizes, in pixels.
const (
	defaultImageSize = 512
	minImageSize     = 128
	maxImageSize     = 2048
)

// image serves GET /qr/{code}.png: the QR code of the code's form URL,
// {public_url}/s/{code}, with high error correction (a scratched label
// still scans). ?size= sets the side in pixels. An unknown and a disabled
// code are the same 404, so the image tells nothing about codes that do
// not work.
func (c *Connector) image(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	id, ok := strings.CutSuffix(r.Params["file"], ".png")
	if !ok {
		return nil, connectors.Refuse(http.StatusNotFound, "not found")
	}
	code, err := c.enabled(ctx, id)
	if err != nil {
		return nil, err
	}
	return c.png(r, c.FormURL(code.Code))
}

// wechatImage serves GET /qr/{code}/wechat.png: the code's WeChat
// parametric QR code (what WeChat's qrcode/create answered), once an
// admin made it.
func (c *Connector) wechatImage(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	code, err := c.enabled(ctx, r.Params["code"])
	if err != nil {
		return nil, err
	}
	if code.WeChat == nil || code.WeChat.URL == "" || code.WeChat.Account != code.WeChatOA {
		return nil, notFound()
	}
	return c.png(r, code.WeChat.URL)
}

// enabled finds an enabled code; anything else is the same 404.
func (c *Connector) enabled(ctx context.Context, id string) (codes.Code, error) {
	code, err := c.codes.Get(ctx, id)
	switch {
	case errors.Is(err, codes.ErrNotFound), err == nil && code.Disabled:
		return codes.Code{}, notFound()
	case err != nil:
		return codes.Code{}, err
	}
	return code, nil
}

// notFound is the images' 404, never cached: the code may come back.
func notFound() error {
	return connectors.Refuse(http.StatusNotFound, "no such QR code")
}

// png answers the QR code of content, cacheable for an hour (a disabled
// code's image may live that long in a cache) and revalidated by its
// ETag.
func (c *Connector) png(r *connectors.Request, content string) (*connectors.Response, error) {
	size := defaultImageSize
	if v := r.Query.Get("size"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < minImageSize || n > maxImageSize {
			return nil, connectors.Refuse(http.StatusBadRequest, "size must be 128–2048 pixels")
		}
		size = n
	}
	sum := sha256.Sum256([]byte(content + "|" + strconv.Itoa(size)))
	etag := `"` + hex.EncodeToString(sum[:12]) + `"`
	h := http.Header{}
	h.Set("Cache-Control", "public, max-age=3600")
	h.Set("ETag", etag)
	h.Set("X-Content-Type-Options", "nosniff")
	if r.Header.Get("If-None-Match") == etag {
		return &connectors.Response{Status: http.StatusNotModified, Header: h}, nil
	}
	b, err := qrcode.Encode(content, qrcode.High, size)
	if err != nil {
		return nil, err
	}
	return &connectors.Response{Status: http.StatusOK, ContentType: "image/png", Header: h, Body: b}, nil
}
