package server

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"switchboard/router"
)

// A reply refused because the channel's reply window closed is a 422 with
// its own code and the router's reason.
func TestReplyWindowClosedIs422(t *testing.T) {
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(quiet())})
	app.Post("/reply", func(*fiber.Ctx) error {
		return fmt.Errorf("%w: the wechat_oa channel accepts replies only within 48h of the customer's last message; it closed at 2026-03-03T08:00:00Z",
			router.ErrWindowClosed)
	})
	resp, err := app.Test(httptest.NewRequest("POST", "/reply", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var body apiError
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("answer %s: %v", raw, err)
	}
	if resp.StatusCode != 422 || body.Error.Code != "reply_window_closed" {
		t.Fatalf("got %d %s, want 422 reply_window_closed", resp.StatusCode, raw)
	}
	want := "reply window closed: the wechat_oa channel accepts replies only within 48h"
	if !strings.HasPrefix(body.Error.Message, want) || strings.Contains(body.Error.Message, "router:") {
		t.Fatalf("message %q, want it to start with %q", body.Error.Message, want)
	}
}
