package server

import (
	"fmt"
	"strconv"

	"github.com/gofiber/fiber/v2"
)

// queryLimit reads the optional ?limit= of a list route: def when absent,
// else a whole number in 1–max (400 otherwise).
func queryLimit(c *fiber.Ctx, def, max int) (int, error) {
	v := c.Query("limit")
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%w: limit must be 1–%d", errBadInput, max)
	}
	return n, nil
}
