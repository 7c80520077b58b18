package server

import (
	"io/fs"
	"mime"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/web"
)

// pageCSP keeps the inbox to its own scripts and styles: customer text can
// never run as code even if it reached the DOM as HTML. Media come from the
// blob route, fetched with the agent's token and shown from blob: URLs;
// customers' avatars (URLs a channel's API gave, such as WeChat's) are the
// only remote images, and no referrer goes with them.
const pageCSP = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob: https:; media-src 'self' blob:; " +
	"style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// inboxRoutes serves the inbox page and its assets from the binary.
func (s *Server) inboxRoutes() {
	files, err := fs.Sub(web.Assets, "inbox")
	if err != nil {
		panic(err)
	}
	index, err := fs.ReadFile(files, "index.html")
	if err != nil {
		panic("server: inbox page missing: " + err.Error())
	}
	page := func(c *fiber.Ctx) error {
		secure(c)
		c.Set("Cache-Control", "no-cache")
		c.Type("html", "utf-8")
		return c.Send(index)
	}
	s.app.Get("/", page)
	s.app.Get("/inbox", page)
	s.app.Get("/inbox/*", func(c *fiber.Ctx) error {
		name := path.Clean(c.Params("*"))
		if name == "." || strings.HasPrefix(name, "..") {
			return fiber.ErrNotFound
		}
		b, err := fs.ReadFile(files, name)
		if err != nil {
			return fiber.ErrNotFound
		}
		secure(c)
		c.Set("Cache-Control", "no-cache")
		if t := mime.TypeByExtension(path.Ext(name)); t != "" {
			c.Set(fiber.HeaderContentType, t)
		}
		return c.Send(b)
	})
	s.app.Use(s.notFound)
}

func secure(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", pageCSP)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Frame-Options", "DENY")
}

// notFound answers unknown paths: JSON for API clients, a bilingual page
// for browsers.
func (s *Server) notFound(c *fiber.Ctx) error {
	if strings.Contains(c.Get(fiber.HeaderAccept), "text/html") {
		secure(c)
		c.Type("html", "utf-8")
		return c.Status(fiber.StatusNotFound).SendString(`<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">` +
			`<meta name="viewport" content="width=device-width,initial-scale=1"><title>页面不存在 · Not found</title></head>` +
			`<body><h1>页面不存在</h1><p>您访问的页面不存在。<a href="/">返回客服工作台</a></p>` +
			`<h1 lang="en">Page not found</h1><p lang="en">There is nothing here. <a href="/">Back to the inbox</a></p></body></html>`)
	}
	return fiber.ErrNotFound
}
