package webchat

import "switchboard/connectors"

// surveyEvent is what the widget needs to render a satisfaction survey
// natively: the question and one button per score. The answer is an
// ordinary message with the score as its text, so the survey's token and
// page stay out of the thread.
type surveyEvent struct {
	Kind     string `json:"kind"`
	Min      int    `json:"min"`
	Max      int    `json:"max"`
	Question string `json:"question"`
	Lang     string `json:"lang,omitempty"`
}

// surveyOf is the survey m carries as the widget shows it, nil when m is
// no survey or one the widget cannot render (it then shows m's text, which
// asks for a typed number).
func surveyOf(m *connectors.Outbound) *surveyEvent {
	s := m.Survey
	if m.Kind != connectors.KindSurvey || s == nil || s.Question == "" {
		return nil
	}
	if s.Kind != connectors.SurveyCSAT && s.Kind != connectors.SurveyNPS {
		return nil
	}
	if s.Min < 0 || s.Max > 10 || s.Min >= s.Max {
		return nil
	}
	return &surveyEvent{Kind: s.Kind, Min: s.Min, Max: s.Max, Question: s.Question, Lang: s.Lang}
}
