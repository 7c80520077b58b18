package server

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/connectors"
	"switchboard/router"
	"switchboard/session"
)

// apiError is the JSON error body: {"error":{"code","message"}}.
type apiError struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

var codes = map[int]string{
	http.StatusBadRequest: "bad_request", http.StatusUnauthorized: "unauthorized", http.StatusForbidden: "forbidden",
	http.StatusNotFound: "not_found", http.StatusMethodNotAllowed: "method_not_allowed", http.StatusConflict: "conflict",
	http.StatusRequestEntityTooLarge: "too_large", http.StatusUnsupportedMediaType: "unsupported_media_type",
	http.StatusTooManyRequests: "rate_limited", http.StatusInternalServerError: "internal",
	http.StatusServiceUnavailable: "unavailable", http.StatusUpgradeRequired: "upgrade_required",
}

// codeOf is the machine-readable code of an error whose status alone does
// not say enough; "" means the status's own code.
func codeOf(err error) string {
	switch {
	case errors.Is(err, router.ErrWindowClosed):
		return "reply_window_closed"
	case errors.Is(err, router.ErrAttachUnsupported):
		return "attachments_unsupported"
	}
	return ""
}

// classify turns an error into a status and a message safe to show.
func classify(err error) (int, string) {
	var ce *connectors.Error
	var fe *fiber.Error
	switch {
	case errors.As(err, &ce) && ce.Status > 0:
		msg := ce.Msg
		if msg == "" {
			msg = http.StatusText(ce.Status)
		}
		return ce.Status, msg
	case errors.As(err, &fe):
		return fe.Code, fe.Message
	case errors.Is(err, router.ErrInvalid):
		return http.StatusBadRequest, clean(err)
	case errors.Is(err, router.ErrNotFound), errors.Is(err, session.ErrNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, router.ErrForbidden):
		return http.StatusForbidden, clean(err)
	case errors.Is(err, router.ErrConflict):
		return http.StatusConflict, clean(err)
	case errors.Is(err, router.ErrWindowClosed), errors.Is(err, router.ErrAttachUnsupported):
		return http.StatusUnprocessableEntity, clean(err)
	case errors.Is(err, session.ErrBadLogin), errors.Is(err, session.ErrUnauthorized):
		return http.StatusUnauthorized, clean(err)
	case errors.Is(err, session.ErrRateLimited):
		return http.StatusTooManyRequests, clean(err)
	case errors.Is(err, errBadInput):
		return http.StatusBadRequest, clean(err)
	}
	return http.StatusInternalServerError, "internal error"
}

// clean drops the package prefixes of wrapped errors: "router: invalid
// request: text is empty" reads "invalid request: text is empty".
func clean(err error) string {
	s := err.Error()
	for _, p := range []string{"router: ", "session: ", "server: "} {
		s = strings.ReplaceAll(s, p, "")
	}
	return s
}

var errBadInput = errors.New("server: bad input")

// errorHandler answers every error the same way and logs what is ours.
func errorHandler(log *slog.Logger) fiber.ErrorHandler {
	return func(c *fiber.Ctx, err error) error {
		status, msg := classify(err)
		if status >= 500 {
			// A tracking page's path holds its key: logged as a hash.
			log.Error("request failed", "method", c.Method(), "path", logPath(c.Path()), "err", err)
		}
		var body apiError
		body.Error.Code = codeOf(err)
		if body.Error.Code == "" {
			body.Error.Code = codes[status]
		}
		if body.Error.Code == "" {
			body.Error.Code = strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		}
		body.Error.Message = msg
		if status == http.StatusUnauthorized {
			c.Set("WWW-Authenticate", `Bearer realm="switchboard"`)
		}
		return c.Status(status).JSON(body)
	}
}
