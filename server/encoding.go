package server

import (
	"strings"

	"github.com/gofiber/fiber/v2"
)

// refuseEncodedBodies answers 415 to a request whose body declares a
// Content-Encoding (gzip, deflate, br, …), before any handler runs. Fiber
// would inflate such a body on first use, with no limit: a few kilobytes
// of gzip become gigabytes in memory, after the size limit on the wire
// and before any check of who sent it. No client of Switchboard's routes
// (WeChat, PBXs, widgets, browsers, the inbox) compresses request bodies.
func refuseEncodedBodies(c *fiber.Ctx) error {
	enc := strings.TrimSpace(string(c.Request().Header.Peek(fiber.HeaderContentEncoding)))
	if enc != "" && !strings.EqualFold(enc, "identity") {
		return fiber.NewError(fiber.StatusUnsupportedMediaType, "send the body without Content-Encoding")
	}
	return c.Next()
}
