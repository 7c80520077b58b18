package email

import (
	"bytes"
	"html/template"
	"net/url"
	"strconv"
	"strings"

	"switchboard/connectors"
)

// A satisfaction survey goes out as multipart/alternative: a text part and
// an HTML part, each with the question, one link per score to the survey
// page (a click records the score, once, without a login), and how to
// answer by replying instead, which the router reads as the score. The
// HTML is a row of table-cell buttons with inline styles only and no
// images, which the common mail clients (Outlook's Word engine included)
// render as buttons.

// surveyWords are a survey mail's own words in one language; the question
// and the reply instructions come with the survey, as configured.
type surveyWords struct {
	// Title leads the subject.
	Title string
	// Lead introduces the links; OrReply the instructions for a reply.
	Lead, OrReply string
	// CSAT and NPS name the ends of each scale.
	CSAT, NPS [2]string
}

var surveyMailWords = map[string]surveyWords{
	"zh": {Title: "满意度调查", Lead: "点击下面的分数即可评分：", OrReply: "也可以直接回复本邮件：",
		CSAT: [2]string{"非常不满意", "非常满意"}, NPS: [2]string{"完全不可能", "非常可能"}},
	"en": {Title: "Satisfaction survey", Lead: "Click a score to rate:", OrReply: "You can also reply to this mail: ",
		CSAT: [2]string{"Very dissatisfied", "Very satisfied"}, NPS: [2]string{"Not at all likely", "Extremely likely"}},
}

// scoreLink is one score of a survey and the link that records it.
type scoreLink struct {
	Score int
	URL   string
}

// surveyMail is what a survey mail says.
type surveyMail struct {
	Lang               string
	W                  surveyWords
	Question, HowReply string
	Links              []scoreLink
	// Low and High name the ends of the scale.
	Low, High string
	// Cell and Spacing size the buttons: eleven NPS scores fit a phone's
	// width only when narrower than five CSAT stars.
	Cell, Spacing template.CSS
}

// surveyOf is the mail of survey m, false when m is no survey or carries
// none that can be linked (no absolute http(s) page): such a survey goes
// as its text, which asks for a typed number.
func surveyOf(m *connectors.Outbound) (surveyMail, bool) {
	sv := m.Survey
	if m.Kind != connectors.KindSurvey || sv == nil || sv.Min < 0 || sv.Max > 10 || sv.Min >= sv.Max {
		return surveyMail{}, false
	}
	u, err := url.Parse(sv.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return surveyMail{}, false
	}
	lang := sv.Lang
	if lang != "en" {
		lang = "zh"
	}
	s := surveyMail{Lang: lang, W: surveyMailWords[lang], Question: strings.TrimSpace(sv.Question),
		Cell: "min-width:36px;padding:10px 12px", Spacing: "6px"}
	text := strings.TrimSpace(strings.ReplaceAll(m.Text, "\r\n", "\n"))
	if s.Question == "" {
		s.Question = text
	} else if rest, ok := strings.CutPrefix(text, s.Question); ok {
		s.HowReply = strings.TrimSpace(rest)
	}
	ends := s.W.CSAT
	if sv.Kind == connectors.SurveyNPS {
		ends = s.W.NPS
	}
	s.Low, s.High = strconv.Itoa(sv.Min)+" = "+ends[0], strconv.Itoa(sv.Max)+" = "+ends[1]
	if sv.Max-sv.Min > 5 {
		s.Cell, s.Spacing = "min-width:24px;padding:10px 0", "3px"
	}
	for n := sv.Min; n <= sv.Max; n++ {
		s.Links = append(s.Links, scoreLink{Score: n, URL: sv.URL + "?score=" + strconv.Itoa(n)})
	}
	return s, true
}

// subject is the survey mail's subject: its title before the thread's
// subject, which carries the ticket token as replies' subjects do.
func (s surveyMail) subject(thread string) string {
	sep := "：" // a full-width colon takes no space after it
	if s.Lang == "en" {
		sep = ": "
	}
	return s.W.Title + sep + thread
}

// text is the plain-text part: the question, a line per score with its
// link, and the reply instructions.
func (s surveyMail) text() string {
	var b strings.Builder
	b.WriteString(s.Question + "\n\n" + s.W.Lead + "\n")
	for i, l := range s.Links {
		label := strconv.Itoa(l.Score)
		switch i {
		case 0:
			label = s.Low
		case len(s.Links) - 1:
			label = s.High
		}
		b.WriteString(label + "\n" + l.URL + "\n")
	}
	if s.HowReply != "" {
		b.WriteString("\n" + s.W.OrReply + s.HowReply + "\n")
	}
	return b.String()
}

// surveyHTML is the HTML part. Everything that varies goes through
// html/template, which escapes it and keeps unsafe URLs out of href.
var surveyHTML = template.Must(template.New("survey").Parse(`<!doctype html>
<html lang="{{if eq .Lang "zh"}}zh-CN{{else}}en{{end}}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{{.W.Title}}</title></head>
<body style="margin:0;padding:16px;background:#ffffff;color:#1f2933;font-family:Arial,'PingFang SC','Microsoft YaHei',sans-serif;font-size:16px;line-height:1.5">
<p style="margin:0 0 16px 0;font-size:17px;font-weight:bold">{{.Question}}</p>
<p style="margin:0 0 8px 0;font-size:14px;color:#52606d">{{.W.Lead}}</p>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="border-collapse:separate;border-spacing:{{.Spacing}} 0"><tr>
{{- range .Links}}
<td align="center" bgcolor="#ffffff" style="border:1px solid #2f80ed;border-radius:6px"><a href="{{.URL}}" style="display:block;{{$.Cell}};color:#2f80ed;font-size:16px;font-weight:bold;line-height:20px;text-align:center;text-decoration:none">{{.Score}}</a></td>
{{- end}}
</tr></table>
<table role="presentation" cellpadding="0" cellspacing="0" border="0" width="100%" style="max-width:360px;margin:6px 0 0 0"><tr>
<td style="font-size:12px;color:#616e7c">{{.Low}}</td><td align="right" style="font-size:12px;color:#616e7c">{{.High}}</td>
</tr></table>
{{- if .HowReply}}
<p style="margin:16px 0 0 0;font-size:14px;color:#52606d">{{.W.OrReply}}{{.HowReply}}</p>
{{- end}}
</body></html>
`))

// html is the HTML part.
func (s surveyMail) html() (string, error) {
	var b bytes.Buffer
	if err := surveyHTML.Execute(&b, s); err != nil {
		return "", err
	}
	return b.String(), nil
}
