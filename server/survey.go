package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"switchboard/connectors/qr"
	"switchboard/router"
)

// The survey page: the link a survey carries (e-mail, QR tracking page).
// Opening a link never records anything: mail security gateways fetch
// every link of a mail before the customer reads it, and a GET that
// recorded would let them answer for the customer. A link with ?score=N
// opens the page with N chosen, and a one-line script posts that choice
// at once, so in a browser one click records the score; without script
// the customer presses the button. The post may carry a comment too;
// once scored, the page takes a comment.

const surveyStyle = `body{font:16px/1.5 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1f2933}
h1{font-size:1.3rem}fieldset{border:0;margin:0;padding:0}.scores{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}
.scores label{position:relative}.scores input{position:absolute;opacity:0;width:1px;height:1px}
.scores span{display:inline-block;min-width:2.6rem;padding:.6rem .4rem;text-align:center;border:1px solid #9aa5b1;border-radius:.4rem;color:#1f2933;font-weight:600;cursor:pointer}
.scores span:hover,.scores input:focus-visible+span{background:#e4f0fb;border-color:#2f80ed}.scores input:checked+span{background:#2f80ed;border-color:#2f80ed;color:#fff}
.ends{display:flex;justify-content:space-between;color:#616e7c;font-size:.85rem}.vh{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
textarea{width:100%;min-height:6rem;font:inherit;box-sizing:border-box}button{margin-top:.5rem;padding:.5rem 1.2rem;font:inherit;border:0;border-radius:.4rem;background:#2f80ed;color:#fff}
.done{color:#2f7d32;font-weight:600}.lang{font-size:.85rem;margin-top:2rem}`

// surveySubmit posts the score a link chose, as the customer's click meant.
const surveySubmit = `document.forms.sv.submit()`

// surveyCSP allows the page's one inline style block, the one-line
// submit script and form posts to itself: nothing else.
var surveyCSP = "default-src 'none'; style-src " + cspHash(surveyStyle) + "; script-src " + cspHash(surveySubmit) +
	"; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

func cspHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

type surveyWords struct {
	Title, Scored, Comment, Send, SendScore, Thanks, Closed, Unknown, Low, High, Other, OtherHref string
}

var surveyPageWords = map[string]surveyWords{
	"zh": {Title: "满意度调查", Scored: "您的评分：", Comment: "还有什么想告诉我们的吗？（选填）", Send: "提交", SendScore: "提交评分",
		Thanks: "感谢您的反馈！", Closed: "本次调查已结束，感谢您的关注。", Unknown: "找不到这份调查，链接可能不完整。",
		Low: "非常不满意", High: "非常满意", Other: "English", OtherHref: "en"},
	"en": {Title: "Satisfaction survey", Scored: "Your score: ", Comment: "Anything else you would like to tell us? (optional)",
		Send: "Send", SendScore: "Send my score", Thanks: "Thank you for your feedback!", Closed: "This survey has closed. Thank you.",
		Unknown: "There is no such survey; the link may be incomplete.", Low: "Very dissatisfied", High: "Very satisfied",
		Other: "中文", OtherHref: "zh"},
}

var npsEnds = map[string][2]string{"zh": {"完全不可能", "非常可能"}, "en": {"Not at all likely", "Extremely likely"}}

var surveyTmpl = template.Must(template.New("survey").Parse(`<!doctype html>
<html lang="{{if eq .Lang "zh"}}zh-CN{{else}}en{{end}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><meta name="robots" content="noindex">
<title>{{.W.Title}}</title><style>` + surveyStyle + `</style></head><body>
<h1>{{.W.Title}}{{if .S.Ticket}} · #{{.S.Ticket}}{{end}}</h1>
{{if .Unknown}}<p>{{.W.Unknown}}</p>
{{else}}<p id="q">{{.S.Question}}</p>
{{if .S.Score}}<p class="done">{{.W.Scored}}{{.S.Score}}</p>{{end}}
{{if and .S.Open (eq .S.State "asked")}}<form id="sv" method="post" action="?lang={{.Lang}}">
<fieldset aria-labelledby="q"><div class="scores">{{range .Scores}}<label><input type="radio" name="score" value="{{.}}" required{{if eq . $.Chosen}} checked{{end}}><span>{{.}}</span></label>{{end}}</div>
<div class="ends"><span>{{.Low}}</span><span>{{.High}}</span></div></fieldset>
<label for="c">{{.W.Comment}}</label><textarea id="c" name="comment" maxlength="2000"></textarea>
<button type="submit">{{.W.SendScore}}</button></form>
{{if .Auto}}<script>` + surveySubmit + `</script>{{end}}
{{else if and .S.Open (eq .S.State "answered")}}<form method="post" action="?lang={{.Lang}}"><label for="c">{{.W.Comment}}</label>
<textarea id="c" name="comment" maxlength="2000"></textarea><button type="submit">{{.W.Send}}</button></form>
{{else if eq .S.State "commented"}}<p class="done">{{.W.Thanks}}</p>
{{else}}<p>{{.W.Closed}}</p>{{end}}{{end}}
<p class="lang"><a href="?lang={{.W.OtherHref}}{{if ge .Chosen 0}}&amp;score={{.Chosen}}{{end}}">{{.W.Other}}</a></p>
</body></html>`))

// surveyRoutes mounts the public survey page.
func (s *Server) surveyRoutes() {
	s.app.Get("/survey/:token", s.surveyPage)
	s.app.Post("/survey/:token", s.surveyAnswer)
}

// surveyPage shows a survey; ?score=N chooses N, for the page's script
// (or the customer) to post.
func (s *Server) surveyPage(c *fiber.Ctx) error {
	view, err := s.Router.Survey(c.UserContext(), c.Params("token"))
	switch {
	case errors.Is(err, router.ErrSurveyUnknown):
		return s.renderSurvey(c, http.StatusNotFound, view, surveyPick{unknown: true, chosen: -1})
	case err != nil:
		return err
	}
	pick := surveyPick{chosen: -1}
	if v := c.Query("score"); v != "" {
		n, perr := strconv.Atoi(v)
		if perr != nil || n < view.Min || n > view.Max {
			return s.renderSurvey(c, http.StatusBadRequest, view, pick)
		}
		pick.chosen = n
		pick.auto = view.Open && view.State == "asked"
	}
	return s.renderSurvey(c, http.StatusOK, view, pick)
}

// surveyAnswer records a posted score and/or comment: the score once,
// then a comment once.
func (s *Server) surveyAnswer(c *fiber.Ctx) error {
	ctx := c.UserContext()
	token := c.Params("token")
	none := surveyPick{chosen: -1}
	var score *int
	if v := c.FormValue("score"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return s.renderSurveyAsItStands(c, http.StatusBadRequest, token)
		}
		score = &n
	}
	comment := c.FormValue("comment")
	if score == nil && strings.TrimSpace(comment) == "" {
		return s.renderSurveyAsItStands(c, http.StatusBadRequest, token)
	}
	view, _, err := s.Router.AnswerSurvey(ctx, token, score, comment)
	switch {
	case errors.Is(err, router.ErrSurveyUnknown):
		return s.renderSurvey(c, http.StatusNotFound, view, surveyPick{unknown: true, chosen: -1})
	case errors.Is(err, router.ErrSurveyClosed):
		return s.renderSurveyAsItStands(c, http.StatusGone, token)
	case errors.Is(err, router.ErrInvalid):
		return s.renderSurveyAsItStands(c, http.StatusBadRequest, token)
	case err != nil:
		return err
	}
	if view.State == "asked" {
		// A comment without a score: nothing was taken.
		return s.renderSurvey(c, http.StatusBadRequest, view, none)
	}
	return s.renderSurvey(c, http.StatusOK, view, none)
}

// renderSurveyAsItStands shows the survey after an answer it refused.
func (s *Server) renderSurveyAsItStands(c *fiber.Ctx, status int, token string) error {
	v, err := s.Router.Survey(c.UserContext(), token)
	if err != nil {
		return s.renderSurvey(c, http.StatusNotFound, v, surveyPick{unknown: true, chosen: -1})
	}
	return s.renderSurvey(c, status, v, surveyPick{chosen: -1})
}

// surveyPick is how a page shows the survey: unknown, or with a score
// chosen (-1 for none) and whether the page posts it by itself.
type surveyPick struct {
	unknown bool
	chosen  int
	auto    bool
}

func (s *Server) renderSurvey(c *fiber.Ctx, status int, v router.SurveyView, p surveyPick) error {
	lang := v.Lang
	if l := c.Query("lang"); l == "zh" || l == "en" {
		lang = l
	}
	if lang != "en" {
		lang = "zh"
	}
	w := surveyPageWords[lang]
	low, high := w.Low, w.High
	if v.Kind == "nps" {
		low, high = npsEnds[lang][0], npsEnds[lang][1]
	}
	if v.Lang != "" && lang != v.Lang && s.Router != nil {
		v.Question = s.Router.SurveyQuestion(v.Kind, lang)
	}
	var scores []int
	for n := v.Min; n <= v.Max && v.Max > 0; n++ {
		scores = append(scores, n)
	}
	var buf bytes.Buffer
	err := surveyTmpl.Execute(&buf, map[string]any{"Lang": lang, "W": w, "S": v, "Unknown": p.unknown, "Scores": scores,
		"Low": low, "High": high, "Chosen": p.chosen, "Auto": p.auto})
	if err != nil {
		return err
	}
	c.Set("Content-Security-Policy", surveyCSP)
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Frame-Options", "DENY")
	c.Set("Cache-Control", "no-store")
	c.Type("html", "utf-8")
	return c.Status(status).Send(buf.Bytes())
}

// logPath is a request path as logs may show it: without the tokens of
// QR tracking pages and survey pages.
func logPath(p string) string {
	const prefix = "/survey/"
	if len(p) > len(prefix) && p[:len(prefix)] == prefix {
		return prefix + "…"
	}
	return qr.RedactPath(p)
}
