package qr

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"
	"unicode/utf8"

	"switchboard/connectors"
	"switchboard/internal/fanout"
)

// trackPage is a customer's tracking page.
type trackPage struct {
	frame
	assetView
	Number, StatusText         string
	Items                      []trackItem
	LastID                     string
	Action, SelfURL, EventsURL string
	// Nonce makes the reply form's double submit one message.
	Nonce, Draft, Error string
	You, Agent          string
}

// trackItem is one message of the thread as shown.
type trackItem struct {
	ID         string        `json:"id"`
	Direction  string        `json:"direction"`
	Who        string        `json:"who"`
	Text       string        `json:"text"`
	When       string        `json:"when"`
	ISO        string        `json:"iso"`
	Answers    []shownAnswer `json:"answers,omitempty"`
	PhotosText string        `json:"photos_text,omitempty"`
	// Survey is the score links of the latest reply, when it is a survey
	// that takes answers (offerSurvey).
	Survey *shownSurvey `json:"survey,omitempty"`

	survey *threadSurvey // the reply's survey, open or not
}

type shownAnswer struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// track serves GET /s/t/{token}.
func (c *Connector) track(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	return c.showTrack(ctx, pickLang(r), r.Params["token"], http.StatusOK, "", "")
}

// showTrack renders a tracking page, with a reply draft and its problem
// when the reply was refused.
func (c *Connector) showTrack(ctx context.Context, lang, tok string, status int, draft, problem string) (*connectors.Response, error) {
	path := "/s/t/" + tok
	if !trackRe.MatchString(tok) {
		return c.trackGone(lang, path)
	}
	t, ok, err := c.loadTrack(ctx, tok)
	if err != nil {
		return c.unavailable(lang, path, "", err)
	}
	if !ok {
		return c.trackGone(lang, path)
	}
	evs, err := c.hub.Read(ctx, c.topic(tok), "", threadMaxLen)
	if err != nil {
		return c.unavailable(lang, path, "", err)
	}
	st := c.ticketState(ctx, t.Conversation)
	p := trackPage{frame: newFrame(lang, path, "track_title"),
		assetView: assetView{AssetName: t.AssetName, AssetSite: t.AssetSite, AssetSerial: t.AssetSerial}, Number: st.Number, StatusText: statusText(lang, st.Status),
		Action: path + langQuery(lang), SelfURL: path + langQuery(lang), EventsURL: path + "/events" + langQuery(lang),
		Nonce: newNonce(), Draft: draft, Error: problem, You: tr(lang, "you"), Agent: tr(lang, "agent")}
	for _, ev := range evs {
		p.Items = append(p.Items, c.shown(lang, ev))
		p.LastID = ev.ID
	}
	c.offerSurvey(lang, p.Items, st.Status)
	return render(status, "track", p)
}

func (c *Connector) trackGone(lang, path string) (*connectors.Response, error) {
	p := messagePage{frame: newFrame(lang, path, "track_gone_title"), Heading: tr(lang, "track_gone_title"),
		Body: tr(lang, "track_gone_body")}
	return render(http.StatusNotFound, "message", p)
}

// ticketState asks the Ingester for the ticket; without an answer the
// page shows it as received.
func (c *Connector) ticketState(ctx context.Context, conv string) connectors.TicketState {
	if c.states == nil {
		return connectors.TicketState{}
	}
	st, err := c.states.TicketState(ctx, conv)
	if err != nil {
		c.env.Log.Warn("qr: ticket state", "conversation", conv, "err", err)
	}
	return st
}

// shown is a thread event as the page shows it.
func (c *Connector) shown(lang string, ev fanout.Event) trackItem {
	var e threadEvent
	_ = json.Unmarshal(ev.Data, &e)
	it := trackItem{ID: ev.ID, Direction: "in", Who: tr(lang, "you"), Text: e.Text,
		When: e.CreatedAt.In(c.cfg.loc).Format("2006-01-02 15:04"), ISO: e.CreatedAt.UTC().Format(time.RFC3339)}
	if e.Direction == "out" {
		it.Direction, it.Who = "out", tr(lang, "agent")
		if e.Author != "" {
			it.Who += " · " + e.Author
		}
	}
	it.survey = e.Survey
	for _, a := range e.Answers {
		it.Answers = append(it.Answers, shownAnswer{Label: a.Label.In(lang), Value: a.Value})
	}
	if e.Photos > 0 {
		it.PhotosText = tr(lang, "photos_count", e.Photos)
	}
	return it
}

// follow serves POST /s/t/{token}: the customer writes more.
func (c *Connector) follow(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	lang, tok := pickLang(r), r.Params["token"]
	path := "/s/t/" + tok
	back := path + langQuery(lang)
	if !trackRe.MatchString(tok) {
		return c.trackGone(lang, path)
	}
	form, err := parseForm(r.Header.Get("Content-Type"), r.Body, limits{})
	var rf *refusal
	if errors.As(err, &rf) {
		return c.refusalPage(lang, path, rf.status, back)
	}
	t, ok, err := c.loadTrack(ctx, tok)
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	if !ok {
		return c.trackGone(lang, path)
	}
	nonce := form.values["n"]
	if !nonceRe.MatchString(nonce) {
		return c.refusalPage(lang, path, http.StatusBadRequest, back)
	}
	text, clean := cleanText(form.values["text"], true)
	switch {
	case !clean:
		return c.showTrack(ctx, lang, tok, http.StatusBadRequest, "", tr(lang, "err_text"))
	case text == "":
		return c.showTrack(ctx, lang, tok, http.StatusBadRequest, "", tr(lang, "err_message"))
	case utf8.RuneCountInString(text) > maxDescription:
		return c.showTrack(ctx, lang, tok, http.StatusBadRequest, text, tr(lang, "err_message_long", maxDescription))
	}
	allowed, err := c.allow(ctx, limit{"msg", tok, c.cfg.MessagesPerHour})
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	if !allowed {
		return c.refusalPage(lang, path, http.StatusTooManyRequests, back)
	}
	now := c.now()
	raw, _ := json.Marshal(map[string]string{"text": text})
	acc, err := c.env.In.Ingest(ctx, &connectors.Message{Channel: connectors.QR, Account: t.Code, ExternalID: "msg:" + nonce,
		From: t.From, Kind: connectors.KindText, Text: text, Thread: connectors.Thread{Key: t.Thread}, Time: now, Raw: raw})
	if err != nil {
		return c.unavailable(lang, path, back, err)
	}
	if acc.ConversationID != t.Conversation {
		// The ticket was closed: the message opened the next one, which
		// this page follows from now on.
		t.Conversation = acc.ConversationID
		if err := c.saveTrack(ctx, tok, t); err != nil {
			return c.unavailable(lang, path, back, err)
		}
	} else {
		c.touch(ctx, tok, t.Conversation)
	}
	if _, err := c.publish(ctx, tok, threadEvent{MessageID: acc.MessageID, Direction: "in", Text: text, CreatedAt: now.UTC()}); err != nil {
		return c.unavailable(lang, path, back, err)
	}
	resp := seeTrack(tok, lang)
	resp.Header.Set("Location", resp.Header.Get("Location")+"#latest")
	return resp, nil
}

// eventsAnswer is what the tracking page's script polls.
type eventsAnswer struct {
	Items  []trackItem `json:"items"`
	LastID string      `json:"last_id"`
	Number string      `json:"number"`
	Status string      `json:"status"`
	// State is the status as a code (new, open, pending, resolved,
	// closed): the script takes a survey's links away once it is no
	// longer resolved.
	State string `json:"state"`
}

// events serves GET /s/t/{token}/events?after=: the thread's entries
// after an event id, and the ticket's number and status, for the page's
// optional live updates.
func (c *Connector) events(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	lang, tok := pickLang(r), r.Params["token"]
	after := r.Query.Get("after")
	if !trackRe.MatchString(tok) {
		return nil, connectors.Refuse(http.StatusNotFound, "not found")
	}
	if after != "" && !fanout.ValidID(after) {
		return nil, connectors.Refuse(http.StatusBadRequest, "after is not an event id")
	}
	t, ok, err := c.loadTrack(ctx, tok)
	if err != nil {
		return nil, redact(err)
	}
	if !ok {
		return nil, connectors.Refuse(http.StatusNotFound, "not found")
	}
	// after was checked above: whatever fails now is the server's (500),
	// logged without the token.
	evs, err := c.hub.Read(ctx, c.topic(tok), after, threadMaxLen)
	if err != nil {
		return nil, redact(err)
	}
	st := c.ticketState(ctx, t.Conversation)
	out := eventsAnswer{Items: []trackItem{}, LastID: after, Number: st.Number, Status: statusText(lang, st.Status), State: st.Status}
	for _, ev := range evs {
		out.Items = append(out.Items, c.shown(lang, ev))
		out.LastID = ev.ID
	}
	c.offerSurvey(lang, out.Items, st.Status)
	b, _ := json.Marshal(out)
	h := http.Header{}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	return &connectors.Response{Status: http.StatusOK, ContentType: "application/json; charset=utf-8", Header: h, Body: b}, nil
}
