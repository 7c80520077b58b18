package server

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/fiber/v2"

	"switchboard/connectors"
	qrcodes "switchboard/connectors/qr/codes"
	"switchboard/session"
)

// QR self-service codes: admins create, change, disable and enable them;
// supervisors may read them (to print, to look one up); agents may not.
// The codes live in the QR connector's store; without `channels.qr` in the
// configuration every route answers 404.

// qrChannel is what the API needs of the QR connector.
type qrChannel interface {
	Codes() *qrcodes.Store
	FormURL(code string) string
}

// sceneQRs is what the API needs of the WeChat official-account connector
// to offer a code as a WeChat permanent string-scene QR code.
type sceneQRs interface {
	// HasAccount reports whether account is a configured official account.
	HasAccount(account string) bool
	// PermanentSceneQR asks WeChat for the QR code of scene on account: its
	// ticket and the URL it encodes.
	PermanentSceneQR(ctx context.Context, account, scene string) (ticket, url string, err error)
}

// qrRoutes mounts the QR code API on the authenticated group.
func (s *Server) qrRoutes(auth fiber.Router) {
	auth.Get("/qr/codes", allowRole(session.RoleSupervisor), s.listQRCodes)
	auth.Post("/qr/codes", allowRole(session.RoleAdmin), s.createQRCode)
	auth.Get("/qr/codes/:code", allowRole(session.RoleSupervisor), s.getQRCode)
	auth.Patch("/qr/codes/:code", allowRole(session.RoleAdmin), s.patchQRCode)
	auth.Post("/qr/codes/:code/wechat", allowRole(session.RoleAdmin), s.wechatQRCode)
}

// allowRole lets through agents of role min or above (agent < supervisor
// < admin).
func allowRole(min session.Role) fiber.Handler {
	rank := map[session.Role]int{session.RoleAgent: 0, session.RoleSupervisor: 1, session.RoleAdmin: 2}
	return func(c *fiber.Ctx) error {
		if rank[agentOf(c).Role] < rank[min] {
			return fiber.NewError(fiber.StatusForbidden, fmt.Sprintf("only %ss and above may do this", min))
		}
		return c.Next()
	}
}

// qrCodeJSON is a code in the API: the stored code with the addresses of
// its form and images.
type qrCodeJSON struct {
	qrcodes.Code
	// URL is the form's address, what the QR code encodes.
	URL string `json:"url"`
	// ImageURL is the QR code's PNG; WeChatImageURL the WeChat QR code's,
	// once made.
	ImageURL       string `json:"image_url"`
	WeChatImageURL string `json:"wechat_image_url,omitempty"`
}

func (s *Server) qrJSON(ch qrChannel, c qrcodes.Code) qrCodeJSON {
	out := qrCodeJSON{Code: c, URL: ch.FormURL(c.Code), ImageURL: s.opts.PublicURL + "/qr/" + c.Code + ".png"}
	if c.WeChat != nil && c.WeChat.Account == c.WeChatOA {
		out.WeChatImageURL = s.opts.PublicURL + "/qr/" + c.Code + "/wechat.png"
	}
	return out
}

// qr is the QR connector, or a 404 when it is not configured.
func (s *Server) qr() (qrChannel, error) {
	if c, ok := s.Registry.Get(connectors.QR); ok {
		if q, ok := c.(qrChannel); ok {
			return q, nil
		}
	}
	return nil, fiber.NewError(fiber.StatusNotFound, "QR self-service is not enabled: add channels.qr to the configuration")
}

// wechatScenes is the official-account connector, nil without one.
func (s *Server) wechatScenes() sceneQRs {
	c, ok := s.Registry.Get(connectors.WeChatOA)
	if !ok {
		return nil
	}
	w, _ := c.(sceneQRs)
	return w
}

// qrCodeInput is the body of a create.
type qrCodeInput struct {
	Asset    qrcodes.Asset   `json:"asset"`
	Team     string          `json:"team"`
	Fields   []qrcodes.Field `json:"fields"`
	WeChatOA string          `json:"wechat_oa"`
	Disabled bool            `json:"disabled"`
}

// checkQRCode validates a code and the team and account it names.
func (s *Server) checkQRCode(c *qrcodes.Code) error {
	err := qrcodes.Validate(c)
	var ve *qrcodes.ValidationError
	if err != nil && !errors.As(err, &ve) {
		return err
	}
	if ve == nil {
		ve = &qrcodes.ValidationError{}
	}
	if c.Team != "" && !s.knownTeam(c.Team) {
		ve.Problems = append(ve.Problems, fmt.Sprintf("team: unknown team %q", c.Team))
	}
	if c.WeChatOA != "" {
		if w := s.wechatScenes(); w == nil || !w.HasAccount(c.WeChatOA) {
			ve.Problems = append(ve.Problems, fmt.Sprintf("wechat_oa: no official account %q in channels.wechat_oa", c.WeChatOA))
		}
	}
	if len(ve.Problems) > 0 {
		return fmt.Errorf("%w: %v", errBadInput, ve)
	}
	return nil
}

// qrError turns the store's errors into answers.
func qrError(err error) error {
	switch {
	case errors.Is(err, qrcodes.ErrNotFound):
		return fiber.NewError(fiber.StatusNotFound, "no such QR code")
	case errors.Is(err, qrcodes.ErrConflict):
		return fiber.NewError(fiber.StatusConflict, "the code changed meanwhile; try again")
	case errors.Is(err, qrcodes.ErrBadCursor):
		return fmt.Errorf("%w: malformed cursor", errBadInput)
	}
	return err
}

// createQRCode makes a code: 201 with the code, its form URL and image.
func (s *Server) createQRCode(c *fiber.Ctx) error {
	ch, err := s.qr()
	if err != nil {
		return err
	}
	var in qrCodeInput
	if err := decode(c, &in); err != nil {
		return err
	}
	code := qrcodes.Code{Asset: in.Asset, Team: in.Team, Fields: in.Fields, WeChatOA: in.WeChatOA, Disabled: in.Disabled,
		CreatedBy: agentOf(c).ID}
	if err := s.checkQRCode(&code); err != nil {
		return err
	}
	if err := ch.Codes().Create(c.UserContext(), &code); err != nil {
		return err
	}
	s.log.Info("qr code created", "code", code.Code, "by", code.CreatedBy)
	c.Location("/api/v1/qr/codes/" + code.Code)
	return c.Status(fiber.StatusCreated).JSON(s.qrJSON(ch, code))
}

// listQRCodes lists codes, newest first: limit 1–1000 (default 200),
// after the next_cursor of a previous page; site= and disabled=true|false
// filter the page.
func (s *Server) listQRCodes(c *fiber.Ctx) error {
	ch, err := s.qr()
	if err != nil {
		return err
	}
	limit, err := queryLimit(c, 200, 1000)
	if err != nil {
		return err
	}
	var disabled *bool
	switch v := c.Query("disabled"); v {
	case "":
	case "true", "false":
		b := v == "true"
		disabled = &b
	default:
		return fmt.Errorf("%w: disabled must be true or false", errBadInput)
	}
	list, next, err := ch.Codes().List(c.UserContext(), c.Query("cursor"), limit)
	if err != nil {
		return qrError(err)
	}
	site := c.Query("site")
	items := make([]qrCodeJSON, 0, len(list))
	for _, code := range list {
		if (site != "" && code.Asset.Site != site) || (disabled != nil && code.Disabled != *disabled) {
			continue
		}
		items = append(items, s.qrJSON(ch, code))
	}
	out := fiber.Map{"items": items}
	if next != "" {
		out["next_cursor"] = next
	}
	return c.JSON(out)
}

func (s *Server) getQRCode(c *fiber.Ctx) error {
	ch, err := s.qr()
	if err != nil {
		return err
	}
	code, err := ch.Codes().Get(c.UserContext(), c.Params("code"))
	if err != nil {
		return qrError(err)
	}
	return c.JSON(s.qrJSON(ch, code))
}

// qrCodePatch changes what it names; the asset's details one by one, the
// fields as a whole list.
type qrCodePatch struct {
	Asset *struct {
		Name     *string `json:"name"`
		Serial   *string `json:"serial"`
		Category *string `json:"category"`
		Site     *string `json:"site"`
		Address  *string `json:"address"`
	} `json:"asset"`
	Team     *string          `json:"team"`
	Fields   *[]qrcodes.Field `json:"fields"`
	WeChatOA *string          `json:"wechat_oa"`
	Disabled *bool            `json:"disabled"`
}

// patchQRCode updates a code; {"disabled":true} takes it out of service
// and {"disabled":false} brings it back.
func (s *Server) patchQRCode(c *fiber.Ctx) error {
	ch, err := s.qr()
	if err != nil {
		return err
	}
	var p qrCodePatch
	if err := decode(c, &p); err != nil {
		return err
	}
	code, err := ch.Codes().Update(c.UserContext(), c.Params("code"), func(code *qrcodes.Code) error {
		if a := p.Asset; a != nil {
			set(&code.Asset.Name, a.Name)
			set(&code.Asset.Serial, a.Serial)
			set(&code.Asset.Category, a.Category)
			set(&code.Asset.Site, a.Site)
			set(&code.Asset.Address, a.Address)
		}
		set(&code.Team, p.Team)
		if p.Fields != nil {
			code.Fields = *p.Fields
		}
		if p.WeChatOA != nil && *p.WeChatOA != code.WeChatOA {
			code.WeChatOA, code.WeChat = *p.WeChatOA, nil // the old account's QR code is no longer its
		}
		if p.Disabled != nil {
			code.Disabled = *p.Disabled
		}
		return s.checkQRCode(code)
	})
	if err != nil {
		return qrError(err)
	}
	s.log.Info("qr code changed", "code", code.Code, "by", agentOf(c).ID, "disabled", code.Disabled)
	return c.JSON(s.qrJSON(ch, code))
}

func set(dst *string, v *string) {
	if v != nil {
		*dst = *v
	}
}

// wechatQRCode makes the code's WeChat permanent string-scene QR code
// (scene_str = the code) through its official account and keeps it on
// the code; asked again, it answers the one it keeps.
func (s *Server) wechatQRCode(c *fiber.Ctx) error {
	ch, err := s.qr()
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	code, err := ch.Codes().Get(ctx, c.Params("code"))
	if err != nil {
		return qrError(err)
	}
	if code.WeChatOA == "" {
		return fmt.Errorf("%w: wechat_oa: set the official account of the code first", errBadInput)
	}
	if code.WeChat != nil && code.WeChat.Account == code.WeChatOA {
		return c.JSON(s.qrJSON(ch, code))
	}
	w := s.wechatScenes()
	if w == nil || !w.HasAccount(code.WeChatOA) {
		return fmt.Errorf("%w: wechat_oa: no official account %q in channels.wechat_oa", errBadInput, code.WeChatOA)
	}
	ticket, url, err := w.PermanentSceneQR(ctx, code.WeChatOA, code.Code)
	if err != nil {
		s.log.Warn("wechat qr code failed", "code", code.Code, "account", code.WeChatOA, "err", err)
		return fiber.NewError(fiber.StatusBadGateway, "WeChat did not make the QR code: "+err.Error())
	}
	account := code.WeChatOA
	code, err = ch.Codes().Update(ctx, code.Code, func(code *qrcodes.Code) error {
		if code.WeChatOA != account {
			return fiber.NewError(fiber.StatusConflict, "the code's official account changed meanwhile; try again")
		}
		code.WeChat = &qrcodes.WeChatQR{Account: account, Ticket: ticket, URL: url, CreatedAt: time.Now().UTC()}
		return nil
	})
	if err != nil {
		return qrError(err)
	}
	s.log.Info("wechat qr code made", "code", code.Code, "account", account, "by", agentOf(c).ID)
	return c.JSON(s.qrJSON(ch, code))
}
