package qr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"switchboard/connectors"
	"switchboard/connectors/qr/codes"
	"switchboard/internal/blob"
)

// submit serves POST /s/{code}: check, store, ingest, and send the
// customer to their tracking page. Whatever is refused writes nothing:
// the code's state, the body's size and types, the form token and the
// inputs are checked before any photo or message is stored; only the
// rate-limit counters count the attempt.
func (c *Connector) submit(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	lang := pickLang(r)
	code, page, err := c.liveCode(ctx, lang, r.Params["code"])
	if page != nil || err != nil {
		return page, err
	}
	path := "/s/" + code.Code
	back := path + langQuery(lang)
	form, err := parseForm(r.Header.Get("Content-Type"), r.Body, c.limits())
	var rf *refusal
	if errors.As(err, &rf) {
		c.env.Log.Info("qr: form refused", "code", code.Code, "status", rf.status, "why", rf.why)
		return c.refusalPage(lang, path, rf.status, back)
	}
	key, err := c.secret.get(ctx)
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	nonce, ok := checkFormToken(key, code.Code, form.values["token"], c.now())
	if !ok {
		return c.refusalPage(lang, path, http.StatusForbidden, back)
	}
	tok := trackToken(key, nonce)
	if _, done, err := c.loadTrack(ctx, tok); err != nil {
		return c.unavailable(lang, path, back, err)
	} else if done {
		return seeTrack(tok, lang), nil // a double submit: the first one's page
	}
	sub, bad := validateForm(code, form.values, c.cfg.PhoneRegion)
	if bad != nil {
		return c.renderForm(http.StatusBadRequest, lang, code, form.values["token"], form.values, bad, len(form.photos) > 0)
	}
	ok, err = c.allow(ctx, limit{"ip", ipSubject(r.Remote), c.cfg.SubmitsPerIPHour},
		limit{"code", code.Code, c.cfg.SubmitsPerCodeHour})
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	if !ok {
		return c.refusalPage(lang, path, http.StatusTooManyRequests, back)
	}
	atts, err := c.storePhotos(ctx, code.Code, nonce, form.photos)
	if errors.Is(err, blob.ErrTooLarge) {
		return c.refusalPage(lang, path, http.StatusRequestEntityTooLarge, back)
	}
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	now := c.now()
	m := formMessage(code, sub, nonce, atts, lang)
	m.Time = now
	acc, err := c.env.In.Ingest(ctx, m)
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	t := tracked{Code: code.Code, Conversation: acc.ConversationID, From: m.From, Thread: m.Thread.Key, Email: sub.Email,
		Lang: lang, AssetName: code.Asset.Name, AssetSite: code.Asset.Site, AssetSerial: code.Asset.Serial, Created: now}
	if err := c.saveTrack(ctx, tok, t); err != nil {
		return c.unavailable(lang, path, back, err)
	}
	ev := threadEvent{MessageID: acc.MessageID, Direction: "in", Text: sub.Description, Answers: sub.Answers,
		Photos: len(atts), CreatedAt: now.UTC()}
	if _, err := c.publish(ctx, tok, ev); err != nil {
		return c.unavailable(lang, path, back, err)
	}
	c.env.Log.Info("qr: report received", "code", code.Code, "conversation", acc.ConversationID, "photos", len(atts))
	return seeTrack(tok, lang), nil
}

// seeTrack sends the browser to a tracking page (303: the next request is
// a GET, so reloading it posts nothing again).
func seeTrack(tok, lang string) *connectors.Response {
	h := http.Header{}
	h.Set("Location", "/s/t/"+tok+langQuery(lang))
	h.Set("Cache-Control", "no-store")
	return &connectors.Response{Status: http.StatusSeeOther, Header: h}
}

// storePhotos keeps a submission's photos in the blob store, under ids
// made from the code, the form's nonce and the photo's place, so a double
// submit replaces them instead of adding more.
func (c *Connector) storePhotos(ctx context.Context, code, nonce string, photos []photo) ([]connectors.Attachment, error) {
	if len(photos) == 0 {
		return nil, nil
	}
	if c.env.Blobs == nil {
		return nil, errors.New("qr: photos but no blob store") // limits() allows none
	}
	atts := make([]connectors.Attachment, 0, len(photos))
	for i, p := range photos {
		name := p.name
		if name == "" {
			name = "photo-" + strconv.Itoa(i+1) + photoTypes[p.contentType]
		}
		meta, err := c.env.Blobs.Put(ctx, blob.IDFor("qr", code, nonce, strconv.Itoa(i)), bytes.NewReader(p.data), name, p.contentType)
		if err != nil {
			return nil, err
		}
		atts = append(atts, connectors.Attachment{Name: meta.Name, ContentType: meta.ContentType, Size: meta.Size, Ref: meta.ID})
	}
	return atts, nil
}

// formMessage is a submission as the conversation model has it: the
// description as text, the code's asset and the answers as fields, the
// photos as attachments. The customer is their phone number, else their
// e-mail address, else a handle of this submission alone. Each submission
// is its own conversation (thread key "q" + nonce), and the nonce is its
// external id, so a double submit is one message.
func formMessage(code codes.Code, sub submission, nonce string, atts []connectors.Attachment, lang string) *connectors.Message {
	fields := codes.MessageFields(code)
	for _, a := range sub.Answers {
		fields[codes.FieldPrefix+a.Key] = a.Value
	}
	if sub.Phone != "" {
		fields["contact_phone"] = sub.Phone
	}
	if sub.Email != "" {
		fields["contact_email"] = sub.Email
	}
	fields["lang"] = lang
	from := connectors.Identity{Type: "visitor", Value: "qr_" + nonce, Name: sub.Name}
	switch {
	case sub.Phone != "":
		from = connectors.Identity{Type: "phone", Value: sub.Phone, Name: sub.Name}
	case sub.Email != "":
		from = connectors.Identity{Type: "email", Value: sub.Email, Name: sub.Name}
	}
	raw, _ := json.Marshal(map[string]any{"code": code.Code, "description": sub.Description, "name": sub.Name,
		"phone": sub.Phone, "email": sub.Email, "answers": sub.Answers, "photos": atts, "lang": lang})
	return &connectors.Message{Channel: connectors.QR, Account: code.Code, ExternalID: "form:" + nonce, From: from,
		Kind: connectors.KindForm, Text: sub.Description, Attachments: atts, Fields: fields,
		Thread: connectors.Thread{Key: "q" + nonce}, Raw: raw}
}
