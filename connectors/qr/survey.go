package qr

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"switchboard/connectors"
)

// A satisfaction survey reaches the tracking page as a reply whose text
// asks for a typed number (the reply form takes it). While it is the
// latest reply, the ticket is resolved and answers are taken, the page
// also shows one link per score to the survey page, where one tap records
// the score: no script needed.

// surveyWindow is how long after a survey the page shows its links when
// the survey does not say (Survey.Until): the router's default answer
// window. The survey page itself says when a survey was answered.
const surveyWindow = 72 * time.Hour

// threadSurvey is a survey as its thread event keeps it.
type threadSurvey struct {
	Kind string `json:"kind"`
	Min  int    `json:"min"`
	Max  int    `json:"max"`
	// URL is the survey's page; a score's link adds ?score=N.
	URL   string    `json:"url"`
	Until time.Time `json:"until"`
}

// surveyOf is the survey of m, sent at, as the thread keeps it; nil when m
// is no survey or one the page cannot link to (its text still asks for a
// typed number).
func surveyOf(m *connectors.Outbound, at time.Time) *threadSurvey {
	s := m.Survey
	if m.Kind != connectors.KindSurvey || s == nil || s.Min < 0 || s.Max > 10 || s.Min >= s.Max {
		return nil
	}
	if s.Kind != connectors.SurveyCSAT && s.Kind != connectors.SurveyNPS {
		return nil
	}
	u, err := url.Parse(s.URL)
	if err != nil || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return nil
	}
	absolute := (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
	local := u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") // without a public_url
	if !absolute && !local {
		return nil
	}
	until := s.Until
	if until.IsZero() {
		until = at.Add(surveyWindow)
	}
	return &threadSurvey{Kind: s.Kind, Min: s.Min, Max: s.Max, URL: s.URL, Until: until}
}

// shownSurvey is the survey of a tracking page's latest reply, while it
// takes answers: a link per score and what the ends of the scale mean.
type shownSurvey struct {
	Lead  string       `json:"lead"`
	Links []shownScore `json:"links"`
	Low   string       `json:"low"`
	High  string       `json:"high"`
}

// shownScore is one score's link.
type shownScore struct {
	Score int    `json:"score"`
	URL   string `json:"url"`
	Label string `json:"label"`
}

// offerSurvey adds the score links to the latest reply of items when it
// is a survey that takes answers now: the ticket (in status) is resolved
// and the survey's window is not over. A later reply, a reopened or
// closed ticket, or the end of the window leave none.
func (c *Connector) offerSurvey(lang string, items []trackItem, status string) {
	latest := -1
	for i := range items {
		if items[i].Direction == "out" {
			latest = i
		}
	}
	if latest < 0 || status != "resolved" {
		return
	}
	s := items[latest].survey
	if s == nil || c.now().After(s.Until) {
		return
	}
	ends := [2]string{tr(lang, "survey_csat_low"), tr(lang, "survey_csat_high")}
	if s.Kind == connectors.SurveyNPS {
		ends = [2]string{tr(lang, "survey_nps_low"), tr(lang, "survey_nps_high")}
	}
	shown := &shownSurvey{Lead: tr(lang, "survey_lead"), Low: strconv.Itoa(s.Min) + " = " + ends[0],
		High: strconv.Itoa(s.Max) + " = " + ends[1]}
	for n := s.Min; n <= s.Max; n++ {
		label := tr(lang, "survey_score", n)
		switch n {
		case s.Min:
			label += tr(lang, "survey_sep") + ends[0]
		case s.Max:
			label += tr(lang, "survey_sep") + ends[1]
		}
		shown.Links = append(shown.Links, shownScore{Score: n, Label: label,
			URL: s.URL + "?score=" + strconv.Itoa(n) + "&lang=" + lang})
	}
	items[latest].Survey = shown
}
