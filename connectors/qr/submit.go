package qr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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
//
// Every post to a live code counts against the sender's address first,
// refused ones included: the body (photos, up to max_total_bytes) has
// been read by then, so a client that sends large or broken forms again
// and again uses up its hour as one that sends reports does, and once it
// has, its posts are refused before they are parsed. The code's own limit
// counts only reports that passed every check, so junk cannot use it up.
func (c *Connector) submit(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	lang := pickLang(r)
	code, page, err := c.liveCode(ctx, lang, r.Params["code"])
	if page != nil || err != nil {
		return page, err
	}
	path := "/s/" + code.Code
	back := path + langQuery(lang)
	ok, err := c.allow(ctx, limit{"ip", ipSubject(r.Remote), c.cfg.SubmitsPerIPHour})
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	if !ok {
		return c.refusalPage(lang, path, http.StatusTooManyRequests, back)
	}
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
	sub, bad := validateForm(code, form.values, c.cfg.PhoneRegion)
	if bad != nil {
		return c.renderForm(http.StatusBadRequest, lang, code, form.values["token"], form.values, bad, len(form.photos) > 0)
	}
	// The submission's id stands for the nonce from here on: the tracking
	// page, the message's external id, the photos' blob ids and the
	// customer's handle all come from it.
	sid := submissionID(key, nonce, sub, form.photos)
	tok := trackToken(key, sid)
	if _, done, err := c.loadTrack(ctx, tok); err != nil {
		return c.unavailable(lang, path, back, err)
	} else if done {
		return seeTrack(tok, lang), nil // a double submit: the first one's page
	}
	ok, err = c.allow(ctx, limit{"code", code.Code, c.cfg.SubmitsPerCodeHour})
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	if !ok {
		return c.refusalPage(lang, path, http.StatusTooManyRequests, back)
	}
	atts, err := c.storePhotos(ctx, code.Code, sid, form.photos)
	if errors.Is(err, blob.ErrTooLarge) {
		return c.refusalPage(lang, path, http.StatusRequestEntityTooLarge, back)
	}
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	now := c.now()
	m := formMessage(code, sub, sid, atts, lang)
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
	c.env.Log.Info("qr: report received", "code", code.Code, "conversation", acc.ConversationID, "photos", len(atts),
		"track", tokenRef(tok))
	return seeTrack(tok, lang), nil
}

// submissionID names one submission of a rendered form (22 characters of
// base64url, like a nonce): a MAC of the form's nonce and of what was
// sent (the checked inputs and each photo's SHA-256). A double submit,
// the same form sent again as it was, has the same id, so it finds the
// first one's tracking page and is one message with one set of photos.
// The same form sent with other content is another report: a second
// person on a shared or cached page is not filed under the first one's
// report.
func submissionID(key []byte, nonce string, sub submission, photos []photo) string {
	answers := make([][2]string, len(sub.Answers))
	for i, a := range sub.Answers {
		answers[i] = [2]string{a.Key, a.Value}
	}
	content, _ := json.Marshal([]any{sub.Description, sub.Name, sub.Phone, sub.Email, answers})
	h := sha256.New()
	h.Write(content)
	for _, p := range photos {
		sum := sha256.Sum256(p.data)
		h.Write(sum[:])
	}
	return mac(key, "submission", nonce, hex.EncodeToString(h.Sum(nil)))
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
// made from the code, the submission's id and the photo's place, so a
// double submit replaces them instead of adding more.
func (c *Connector) storePhotos(ctx context.Context, code, sid string, photos []photo) ([]connectors.Attachment, error) {
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
		meta, err := c.env.Blobs.Put(ctx, blob.IDFor("qr", code, sid, strconv.Itoa(i)), bytes.NewReader(p.data), name, p.contentType)
		if err != nil {
			return nil, err
		}
		atts = append(atts, connectors.Attachment{Name: meta.Name, ContentType: meta.ContentType, Size: meta.Size, Ref: meta.ID})
	}
	return atts, nil
}

// formMessage is a submission as the conversation model has it: the
// description as text, the code's asset and the answers as fields, the
// photos as attachments. Each submission is its own conversation (thread
// key "q" + its id), and the id is its external id, so a double submit is
// one message.
//
// The customer is a handle of this submission alone (visitor "qr_" + its
// id), never the phone number or e-mail address typed into the form:
// nothing checks that they are the sender's, and filing the report under
// the customer who owns them would let anyone who types a number be
// taken for that customer (their level, their agent, their history). The
// phone (E.164) and address stay in the fields (contact_phone,
// contact_email) for agents, who link them to a customer explicitly.
func formMessage(code codes.Code, sub submission, sid string, atts []connectors.Attachment, lang string) *connectors.Message {
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
	from := connectors.Identity{Type: "visitor", Value: "qr_" + sid, Name: sub.Name}
	raw, _ := json.Marshal(map[string]any{"code": code.Code, "description": sub.Description, "name": sub.Name,
		"phone": sub.Phone, "email": sub.Email, "answers": sub.Answers, "photos": atts, "lang": lang})
	return &connectors.Message{Channel: connectors.QR, Account: code.Code, ExternalID: "form:" + sid, From: from,
		Kind: connectors.KindForm, Text: sub.Description, Attachments: atts, Fields: fields,
		Thread: connectors.Thread{Key: "q" + sid}, Raw: raw}
}
