package router

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"switchboard/connectors"
	"switchboard/tickets"
)

// Surveys: when a ticket resolves, a CSAT (1–5) or NPS (0–10) question
// goes to the customer through the channel they used (an automatic
// message of kind survey, which connectors render natively). The answer
// comes back as a typed number in the conversation (ingest records it
// instead of reopening the ticket), a click on a link of the survey page,
// or the widget's buttons; a comment may follow. Scores and comments are
// history entries of the ticket (fields csat, nps, survey_comment), which
// the KPIs read.

// SurveyConfig is the `surveys:` section of the configuration.
type SurveyConfig struct {
	// Enabled sends surveys; off by default.
	Enabled bool `yaml:"enabled"`
	// Kind is what resolved tickets are asked: csat (default) or nps.
	Kind string `yaml:"kind"`
	// Channels overrides Enabled and Kind per channel (webchat, wechat_oa,
	// wechat_mp, email, qr). The phone (cti) is never surveyed: a call has
	// no text to carry one.
	Channels map[string]SurveyChannel `yaml:"channels"`
	// NPSEvery, when set, asks a customer the NPS question instead of the
	// channel's CSAT when they were not asked it within this period (a
	// periodic NPS).
	NPSEvery time.Duration `yaml:"nps_every"`
	// Window is how long answers are taken (default 72h); later messages
	// are ordinary messages that reopen the ticket.
	Window time.Duration `yaml:"window"`
	// CommentWindow is how long after a typed score the next message is
	// taken as a comment (default 10m).
	CommentWindow time.Duration `yaml:"comment_window"`
	// AskAgain asks again when a reopened ticket resolves again (default:
	// one survey per ticket).
	AskAgain bool `yaml:"ask_again"`
	// Language is zh, en or auto (default): auto asks in Chinese when the
	// customer wrote Chinese.
	Language string `yaml:"language"`
	// Texts overrides the default texts, per language ("zh", "en").
	Texts map[string]SurveyTexts `yaml:"texts"`
}

// SurveyChannel is a channel's survey settings.
type SurveyChannel struct {
	Enabled *bool  `yaml:"enabled"`
	Kind    string `yaml:"kind"`
}

// SurveyTexts are the words of a survey in one language; empty ones keep
// the default.
type SurveyTexts struct {
	// CSAT and NPS are the questions; CSATReply and NPSReply how to answer
	// by typing (appended to the question in text channels).
	CSAT      string `yaml:"csat"`
	CSATReply string `yaml:"csat_reply"`
	NPS       string `yaml:"nps"`
	NPSReply  string `yaml:"nps_reply"`
	// CommentPrompt follows a typed score; Thanks follows a comment.
	CommentPrompt string `yaml:"comment_prompt"`
	Thanks        string `yaml:"thanks"`
}

var defaultSurveyTexts = map[string]SurveyTexts{
	"zh": {
		CSAT:          "您好，您的问题已处理完毕。您对本次服务满意吗？",
		CSATReply:     "请回复数字 1–5 评分（5 = 非常满意，1 = 非常不满意）。",
		NPS:           "您有多大可能向朋友或同事推荐我们？",
		NPSReply:      "请回复 0–10 的数字（10 = 非常可能，0 = 完全不可能）。",
		CommentPrompt: "感谢您的评分！如有意见或建议，请在 10 分钟内直接回复。",
		Thanks:        "感谢您的反馈！",
	},
	"en": {
		CSAT:          "Your request has been resolved. How satisfied are you with our service?",
		CSATReply:     "Reply with a number from 1 to 5 (5 = very satisfied, 1 = very dissatisfied).",
		NPS:           "How likely are you to recommend us to a friend or colleague?",
		NPSReply:      "Reply with a number from 0 to 10 (10 = extremely likely, 0 = not at all likely).",
		CommentPrompt: "Thank you for your rating! Reply within 10 minutes if you would like to add a comment.",
		Thanks:        "Thank you for your feedback!",
	},
}

// Validate checks the section; errors name the key.
func (c *SurveyConfig) Validate() error {
	var errs []error
	kind := func(at, k string) {
		if k != "" && k != connectors.SurveyCSAT && k != connectors.SurveyNPS {
			errs = append(errs, fmt.Errorf("surveys.%s: %q is not csat or nps", at, k))
		}
	}
	kind("kind", c.Kind)
	for ch, sc := range c.Channels {
		kind("channels."+ch+".kind", sc.Kind)
		if ch == string(connectors.CTI) && sc.Enabled != nil && *sc.Enabled {
			errs = append(errs, fmt.Errorf("surveys.channels.cti.enabled: the phone cannot carry a survey"))
		}
	}
	switch c.Language {
	case "", "auto", "zh", "en":
	default:
		errs = append(errs, fmt.Errorf("surveys.language: %q is not zh, en or auto", c.Language))
	}
	for lang := range c.Texts {
		if lang != "zh" && lang != "en" {
			errs = append(errs, fmt.Errorf("surveys.texts.%s: languages are zh and en", lang))
		}
	}
	if c.Window < 0 || c.CommentWindow < 0 || c.NPSEvery < 0 {
		errs = append(errs, errors.New("surveys: window, comment_window and nps_every must not be negative"))
	}
	return errors.Join(errs...)
}

func (c *SurveyConfig) window() time.Duration {
	if c.Window > 0 {
		return c.Window
	}
	return 72 * time.Hour
}

func (c *SurveyConfig) commentWindow() time.Duration {
	if c.CommentWindow > 0 {
		return c.CommentWindow
	}
	return 10 * time.Minute
}

// forChannel says whether channel ch is surveyed, and with what.
func (c *SurveyConfig) forChannel(ch connectors.Channel) (bool, string) {
	on, kind := c.Enabled, c.Kind
	if sc, ok := c.Channels[string(ch)]; ok {
		if sc.Enabled != nil {
			on = *sc.Enabled
		}
		if sc.Kind != "" {
			kind = sc.Kind
		}
	}
	if kind == "" {
		kind = connectors.SurveyCSAT
	}
	if ch == connectors.CTI {
		on = false // a call has no text to carry a survey
	}
	return on, kind
}

// texts are the words in lang, the configured ones over the defaults.
func (c *SurveyConfig) texts(lang string) SurveyTexts {
	t := defaultSurveyTexts[lang]
	o := c.Texts[lang]
	for _, p := range []struct{ dst, src *string }{{&t.CSAT, &o.CSAT}, {&t.CSATReply, &o.CSATReply},
		{&t.NPS, &o.NPS}, {&t.NPSReply, &o.NPSReply}, {&t.CommentPrompt, &o.CommentPrompt}, {&t.Thanks, &o.Thanks}} {
		if *p.src != "" {
			*p.dst = *p.src
		}
	}
	return t
}

// surveyLang picks the language of a conversation's survey: the one set,
// or that of the customer's first message.
func (r *Router) surveyLang(conv Conversation) string {
	switch r.cfg.Surveys.Language {
	case "zh", "en":
		return r.cfg.Surveys.Language
	}
	// The customer's first message says it; without one, Chinese.
	subject := conv.fields["subject"]
	if subject == "" {
		return "zh"
	}
	for _, c := range subject {
		if unicode.Is(unicode.Han, c) {
			return "zh"
		}
	}
	return "en"
}

// ErrSurvey errors of answers: unknown survey (or forged token), closed.
var (
	ErrSurveyUnknown = errors.New("router: no such survey")
	ErrSurveyClosed  = errors.New("router: the survey is closed")
)

// SurveyView is a survey as its page shows it.
type SurveyView struct {
	Token string `json:"token"`
	// Kind is csat or nps; Min and Max bound the score.
	Kind     string `json:"kind"`
	Min      int    `json:"min"`
	Max      int    `json:"max"`
	Lang     string `json:"lang"`
	Question string `json:"question"`
	// State is asked, answered (scored) or commented; Open says whether
	// answers are still taken.
	State string `json:"state"`
	Score *int   `json:"score,omitempty"`
	Open  bool   `json:"open"`
	// Ticket is the ticket number.
	Ticket string `json:"ticket"`
}

// askSurvey sends the survey of a ticket that resolved, if its channel is
// surveyed and it was not asked already (dispatch entry kind "survey").
func (r *Router) askSurvey(ctx context.Context, id string, queued time.Time) error {
	conv, err := r.load(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	on, kind := r.cfg.Surveys.forChannel(conv.Channel)
	if !on {
		return nil
	}
	if conv.Status != tickets.Resolved {
		if conv.Status.Active() && time.Since(queued) < 10*time.Second {
			// On Redis Cluster the entry can come before the resolve it
			// follows (another node): look again later.
			return fmt.Errorf("router: survey of %s: not resolved yet", id)
		}
		return nil // reopened since, or the resolve was refused
	}
	now := r.now()
	periodicNPS := false
	if every := r.cfg.Surveys.NPSEvery; every > 0 && kind == connectors.SurveyCSAT && conv.CustomerID != "" {
		last, _ := r.rdb.HGet(ctx, r.k.customer(conv.CustomerID), "nps_at").Int64()
		if now.Sub(time.UnixMilli(last)) >= every {
			kind, periodicNPS = connectors.SurveyNPS, true
		}
	}
	again := "0"
	if r.cfg.Surveys.AskAgain {
		again = "1"
	}
	v, err := surveyAskLua.Run(ctx, r.rdb, []string{r.k.conv(id), r.k.convHistory(id)},
		newID(), kind, ms(now.Add(r.cfg.Surveys.window())), ms(now), again).Slice()
	if err != nil {
		return fmt.Errorf("router: ask survey: %w", err)
	}
	code, svID := v[0].(int64), v[1].(string)
	if code < 0 {
		return nil // gone, or reopened meanwhile
	}
	if code == 1 && periodicNPS {
		if err := r.rdb.HSet(ctx, r.k.customer(conv.CustomerID), "nps_at", ms(now)).Err(); err != nil {
			return fmt.Errorf("router: ask survey: %w", err)
		}
	}
	if code == 0 {
		// Asked before. A retry of this ask (a crash after the script)
		// resends the same survey's message if it never left, which the
		// key ensures; a later resolve of the same episode asks nothing.
		conv, err = r.load(ctx, id)
		if err != nil {
			return err
		}
		at, _ := strconv.ParseInt(conv.fields["sv_at"], 10, 64)
		if conv.fields["sv_id"] != svID || now.Sub(time.UnixMilli(at)) > surveyRetryWindow {
			return nil
		}
		kind = conv.fields["sv_kind"]
	}
	secret, err := r.surveySecret(ctx)
	if err != nil {
		return err
	}
	lang := r.surveyLang(conv)
	t := r.cfg.Surveys.texts(lang)
	q, how, lo, hi := t.CSAT, t.CSATReply, 1, 5
	if kind == connectors.SurveyNPS {
		q, how, lo, hi = t.NPS, t.NPSReply, 0, 10
	}
	token := surveyToken(secret, id, svID)
	until, _ := strconv.ParseInt(conv.fields["sv_until"], 10, 64)
	if until == 0 {
		until = ms(now.Add(r.cfg.Surveys.window()))
	}
	sv := &connectors.Survey{Kind: kind, Min: lo, Max: hi, Token: token, Lang: lang, Question: q,
		URL: strings.TrimRight(r.cfg.PublicURL, "/") + "/survey/" + token, Until: time.UnixMilli(until).UTC()}
	_, err = r.sendAutomatic(ctx, conv, autoMessage{Author: "system", AuthorName: "Switchboard",
		Kind: connectors.KindSurvey, Text: q + "\n" + how, Survey: sv, Key: "survey:" + svID,
		Fields: map[string]string{"survey": kind}}) // no token: agents must not answer for the customer
	if errors.Is(err, errNoSend) {
		r.log.Info("router: survey not sent: the channel takes no message now", "conversation", id)
		return nil
	}
	return err
}

// surveyFollowUp answers a typed survey answer (ingest): the comment
// prompt after a score, thanks after a comment.
func (r *Router) surveyFollowUp(ctx context.Context, id string, what int64) {
	conv, err := r.load(ctx, id)
	if err != nil {
		r.log.Warn("router: survey follow-up", "conversation", id, "err", err)
		return
	}
	if what == 1 {
		r.metrics.surveys.WithLabelValues(conv.fields["sv_kind"], "typed").Inc()
	}
	t := r.cfg.Surveys.texts(r.surveyLang(conv))
	text, key := t.CommentPrompt, "survey-prompt:"+conv.fields["sv_id"]
	if what == 2 {
		text, key = t.Thanks, "survey-thanks:"+conv.fields["sv_id"]
	}
	if _, err := r.sendAutomatic(ctx, conv, autoMessage{Author: "system", AuthorName: "Switchboard",
		Text: text, Key: key}); err != nil && !errors.Is(err, errNoSend) {
		r.log.Warn("router: survey follow-up", "conversation", id, "err", err)
	}
}

// SurveyQuestion is the question of a survey of kind in lang.
func (r *Router) SurveyQuestion(kind, lang string) string {
	t := r.cfg.Surveys.texts(lang)
	if kind == connectors.SurveyNPS {
		return t.NPS
	}
	return t.CSAT
}

// Survey returns the survey a token names.
func (r *Router) Survey(ctx context.Context, token string) (SurveyView, error) {
	id, svID, err := r.openSurveyToken(ctx, token)
	if err != nil {
		return SurveyView{}, err
	}
	conv, err := r.load(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return SurveyView{}, ErrSurveyUnknown
	}
	if err != nil {
		return SurveyView{}, err
	}
	if conv.fields["sv_id"] != svID {
		return SurveyView{}, ErrSurveyUnknown // a later survey replaced it
	}
	return r.surveyView(conv, token), nil
}

func (r *Router) surveyView(conv Conversation, token string) SurveyView {
	f := conv.fields
	lang := r.surveyLang(conv)
	t := r.cfg.Surveys.texts(lang)
	v := SurveyView{Token: token, Kind: f["sv_kind"], Min: 1, Max: 5, Lang: lang, Question: t.CSAT,
		State: f["sv_state"], Ticket: conv.TicketID}
	if v.Kind == connectors.SurveyNPS {
		v.Min, v.Max, v.Question = 0, 10, t.NPS
	}
	if s, err := strconv.Atoi(f["sv_score"]); err == nil && f["sv_score"] != "" {
		v.Score = &s
	}
	until, _ := strconv.ParseInt(f["sv_until"], 10, 64)
	v.Open = ms(r.now()) <= until && v.State != "commented"
	return v
}

// AnswerSurvey records a score and/or a comment for the survey a token
// names: the score once, a comment once after it. It returns the survey
// as it now stands; recorded is false when nothing new was taken (a
// second click on a link).
func (r *Router) AnswerSurvey(ctx context.Context, token string, score *int, comment string) (SurveyView, bool, error) {
	id, svID, err := r.openSurveyToken(ctx, token)
	if err != nil {
		return SurveyView{}, false, err
	}
	comment = strings.TrimSpace(comment)
	if !utf8.ValidString(comment) {
		return SurveyView{}, false, fmt.Errorf("%w: the comment is not UTF-8", ErrInvalid)
	}
	comment = truncate(comment, maxSurveyComment)
	s := ""
	if score != nil {
		s = strconv.Itoa(*score)
	}
	v, err := surveyAnswerLua.Run(ctx, r.rdb, []string{r.k.conv(id), r.k.convHistory(id)},
		svID, s, comment, ms(r.now()), r.cfg.Surveys.commentWindow().Milliseconds()).Slice()
	if err != nil {
		return SurveyView{}, false, fmt.Errorf("router: answer survey: %w", err)
	}
	switch v[0].(int64) {
	case -1:
		return SurveyView{}, false, ErrSurveyUnknown
	case -2:
		return SurveyView{}, false, ErrSurveyClosed
	case -3:
		return SurveyView{}, false, fmt.Errorf("%w: the score is out of range", ErrInvalid)
	}
	recorded := v[0].(int64) == 1
	if recorded && score != nil && v[3] == s {
		r.metrics.surveys.WithLabelValues(v[2].(string), "page").Inc()
	}
	if recorded {
		b := r.rdb.Pipeline()
		r.queueActivity(ctx, b, id, r.now())
		if _, err := b.Exec(ctx); err != nil {
			r.log.Warn("router: survey activity", "conversation", id, "err", err)
		}
	}
	conv, err := r.load(ctx, id)
	if err != nil {
		return SurveyView{}, false, err
	}
	return r.surveyView(conv, token), recorded, nil
}

// surveyRetryWindow is how long after a survey was started a repeated
// ask may still send its message: a dispatch entry retried after a crash
// comes back within minutes; the idempotency key behind the send lasts 24
// hours.
const surveyRetryWindow = time.Hour

// maxSurveyComment bounds a comment, in bytes.
const maxSurveyComment = 2000

// The survey token is "conversation.survey.mac": the MAC (HMAC-SHA256
// under a random secret kept in Redis, shared by the replicas) makes the
// token unguessable and unforgeable.

func surveyToken(secret []byte, conv, svID string) string {
	return conv + "." + svID + "." + surveyMAC(secret, conv, svID)
}

func surveyMAC(secret []byte, conv, svID string) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(conv + "|" + svID))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil)[:18])
}

func (r *Router) openSurveyToken(ctx context.Context, token string) (conv, svID string, err error) {
	parts := strings.Split(token, ".")
	if len(token) > 200 || len(parts) != 3 || !threadKeyRe.MatchString(parts[0]) || !threadKeyRe.MatchString(parts[1]) {
		return "", "", ErrSurveyUnknown
	}
	secret, err := r.surveySecret(ctx)
	if err != nil {
		return "", "", err
	}
	if !hmac.Equal([]byte(parts[2]), []byte(surveyMAC(secret, parts[0], parts[1]))) {
		return "", "", ErrSurveyUnknown
	}
	return parts[0], parts[1], nil
}

// surveyLinkRe finds a survey token in a link: conversation, survey id
// and the 24-character MAC.
var surveyLinkRe = regexp.MustCompile(`/survey/[0-9A-Za-z_-]+\.[0-9A-Za-z_-]+\.[0-9A-Za-z_-]{24}`)

// redactSurveyLinks takes the survey tokens out of an inbound message's
// text and fields: a reply that quotes or forwards a survey mail would
// otherwise put the customer's link before agents, who must not answer
// for the customer.
func redactSurveyLinks(m *connectors.Message) {
	redact := func(s string) string {
		if !strings.Contains(s, "/survey/") {
			return s
		}
		return surveyLinkRe.ReplaceAllLiteralString(s, "/survey/…")
	}
	m.Text = redact(m.Text)
	for k, v := range m.Fields {
		m.Fields[k] = redact(v)
	}
}

// surveySecret is the survey tokens' key: made once, kept in Redis.
func (r *Router) surveySecret(ctx context.Context) ([]byte, error) {
	if s := r.svSecret.Load(); s != nil {
		return *s, nil
	}
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	if err := r.rdb.SetNX(ctx, r.k.surveySecret(), hex.EncodeToString(raw[:]), 0).Err(); err != nil {
		return nil, fmt.Errorf("router: survey secret: %w", err)
	}
	v, err := r.rdb.Get(ctx, r.k.surveySecret()).Result()
	if err != nil {
		return nil, fmt.Errorf("router: survey secret: %w", err)
	}
	b, err := hex.DecodeString(v)
	if err != nil || len(b) < 16 {
		return nil, fmt.Errorf("router: survey secret is damaged")
	}
	r.svSecret.Store(&b)
	return b, nil
}

// parseScore reads a typed survey answer: a whole number, in ASCII or
// full-width digits or a Chinese numeral up to ten, optionally followed by
// 分, 星 or "stars"/"points". It returns "" for anything else.
func parseScore(text string) string {
	s := strings.TrimSpace(text)
	if s == "" || len(s) > 24 {
		return ""
	}
	s = strings.ToLower(s)
	for _, suf := range []string{"分", "星", "stars", "star", "points", "point", "!", "！", "。", "."} {
		s = strings.TrimSpace(strings.TrimSuffix(s, suf))
	}
	cn := map[string]string{"零": "0", "一": "1", "二": "2", "两": "2", "三": "3", "四": "4", "五": "5",
		"六": "6", "七": "7", "八": "8", "九": "9", "十": "10"}
	if v, ok := cn[s]; ok {
		return v
	}
	var b strings.Builder
	for _, c := range s {
		switch {
		case c >= '0' && c <= '9':
			b.WriteRune(c)
		case c >= '０' && c <= '９':
			b.WriteRune('0' + (c - '０'))
		default:
			return ""
		}
	}
	n, err := strconv.Atoi(b.String())
	if err != nil || n > 10 {
		return ""
	}
	return strconv.Itoa(n)
}

// surveysOn reports whether any channel is surveyed.
func (r *Router) surveysOn() bool {
	if r.cfg.Surveys.Enabled {
		return true
	}
	for _, c := range r.cfg.Surveys.Channels {
		if c.Enabled != nil && *c.Enabled {
			return true
		}
	}
	return false
}

// surveyArgs are the ingest script's survey arguments for message m.
func (r *Router) surveyArgs(m *connectors.Message) (score string, window int64, comment string) {
	if !r.surveysOn() {
		return "", 0, ""
	}
	if m.Kind == connectors.KindText {
		score, comment = parseScore(m.Text), truncate(strings.TrimSpace(m.Text), maxSurveyComment)
	}
	return score, r.cfg.Surveys.commentWindow().Milliseconds(), comment
}
