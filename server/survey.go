package server

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"switchboard/connectors/qr"
	"switchboard/router"
)

// The survey page: the link a survey carries (e-mail, QR tracking page).
// Opening it with ?score=N records N with one click, once, without a
// login; the page then takes a comment. No script runs on it.

const surveyStyle = `body{font:16px/1.5 system-ui,"PingFang SC","Microsoft YaHei",sans-serif;max-width:34rem;margin:2rem auto;padding:0 1rem;color:#1f2933}
h1{font-size:1.3rem}.scores{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0}
.scores a{display:inline-block;min-width:2.6rem;padding:.6rem .4rem;text-align:center;border:1px solid #9aa5b1;border-radius:.4rem;text-decoration:none;color:#1f2933;font-weight:600}
.scores a:hover,.scores a:focus{background:#e4f0fb;border-color:#2f80ed}.ends{display:flex;justify-content:space-between;color:#616e7c;font-size:.85rem}
textarea{width:100%;min-height:6rem;font:inherit;box-sizing:border-box}button{margin-top:.5rem;padding:.5rem 1.2rem;font:inherit;border:0;border-radius:.4rem;background:#2f80ed;color:#fff}
.done{color:#2f7d32;font-weight:600}.lang{font-size:.85rem;margin-top:2rem}`

// surveyCSP allows the page's one inline style block and form posts to
// itself: nothing else.
var surveyCSP = func() string {
	sum := sha256.Sum256([]byte(surveyStyle))
	return "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; " +
		"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
}()

type surveyWords struct {
	Title, Scored, Comment, Send, Thanks, Closed, Unknown, Low, High, Other, OtherHref string
}

var surveyPageWords = map[string]surveyWords{
	"zh": {Title: "满意度调查", Scored: "您的评分：", Comment: "还有什么想告诉我们的吗？（选填）", Send: "提交",
		Thanks: "感谢您的反馈！", Closed: "本次调查已结束，感谢您的关注。", Unknown: "找不到这份调查，链接可能不完整。",
		Low: "非常不满意", High: "非常满意", Other: "English", OtherHref: "en"},
	"en": {Title: "Satisfaction survey", Scored: "Your score: ", Comment: "Anything else you would like to tell us? (optional)",
		Send: "Send", Thanks: "Thank you for your feedback!", Closed: "This survey has closed. Thank you.",
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
{{else}}<p>{{.S.Question}}</p>
{{if .S.Score}}<p class="done">{{.W.Scored}}{{.S.Score}}</p>{{end}}
{{if and .S.Open (eq .S.State "asked")}}<div class="scores">{{range .Scores}}<a href="?score={{.}}&amp;lang={{$.Lang}}" rel="nofollow">{{.}}</a>{{end}}</div>
<div class="ends"><span>{{.Low}}</span><span>{{.High}}</span></div>
{{else if and .S.Open (eq .S.State "answered")}}<form method="post" action="?lang={{.Lang}}"><label for="c">{{.W.Comment}}</label>
<textarea id="c" name="comment" maxlength="2000"></textarea><button type="submit">{{.W.Send}}</button></form>
{{else if eq .S.State "commented"}}<p class="done">{{.W.Thanks}}</p>
{{else}}<p>{{.W.Closed}}</p>{{end}}{{end}}
<p class="lang"><a href="?lang={{.W.OtherHref}}">{{.W.Other}}</a></p>
</body></html>`))

// surveyRoutes mounts the public survey page.
func (s *Server) surveyRoutes() {
	s.app.Get("/survey/:token", s.surveyPage)
	s.app.Post("/survey/:token", s.surveyPage)
}

func (s *Server) surveyPage(c *fiber.Ctx) error {
	ctx := c.UserContext()
	token := c.Params("token")
	var (
		view router.SurveyView
		err  error
	)
	var score *int
	if v := c.Query("score"); v != "" && c.Method() == fiber.MethodGet {
		n, perr := strconv.Atoi(v)
		if perr != nil {
			return s.renderSurvey(c, http.StatusBadRequest, view, true)
		}
		score = &n
	}
	comment := ""
	if c.Method() == fiber.MethodPost {
		comment = c.FormValue("comment")
		if v := c.FormValue("score"); v != "" {
			n, perr := strconv.Atoi(v)
			if perr != nil {
				return s.renderSurvey(c, http.StatusBadRequest, view, true)
			}
			score = &n
		}
	}
	if score != nil || comment != "" {
		view, _, err = s.Router.AnswerSurvey(ctx, token, score, comment)
		if errors.Is(err, router.ErrSurveyClosed) || errors.Is(err, router.ErrInvalid) {
			// Show the survey as it stands, closed or with its score.
			v, verr := s.Router.Survey(ctx, token)
			if verr != nil {
				return s.renderSurvey(c, http.StatusNotFound, view, true)
			}
			status := http.StatusGone
			if errors.Is(err, router.ErrInvalid) {
				status = http.StatusBadRequest
			}
			return s.renderSurvey(c, status, v, false)
		}
	} else {
		view, err = s.Router.Survey(ctx, token)
	}
	switch {
	case errors.Is(err, router.ErrSurveyUnknown):
		return s.renderSurvey(c, http.StatusNotFound, view, true)
	case err != nil:
		return err
	}
	return s.renderSurvey(c, http.StatusOK, view, false)
}

func (s *Server) renderSurvey(c *fiber.Ctx, status int, v router.SurveyView, unknown bool) error {
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
	err := surveyTmpl.Execute(&buf, map[string]any{"Lang": lang, "W": w, "S": v, "Unknown": unknown, "Scores": scores,
		"Low": low, "High": high})
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
