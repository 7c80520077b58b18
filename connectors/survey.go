package connectors

import "time"

// Survey kinds.
const (
	SurveyCSAT = "csat" // satisfaction, 1–5
	SurveyNPS  = "nps"  // likelihood to recommend, 0–10
)

// Survey is a satisfaction survey sent when a ticket resolves (an
// Outbound of kind KindSurvey). The Outbound's Text always asks the
// question in plain words with the answer as a typed number, so a channel
// that knows nothing of surveys sends it as it is; channels that can do
// better render it natively (web chat: buttons in the widget; e-mail:
// one-click links; the QR tracking page: a form).
type Survey struct {
	// Kind is SurveyCSAT or SurveyNPS; Min and Max bound the score.
	Kind     string
	Min, Max int
	// Token names the survey in answer links and the widget's answer. It
	// is unguessable and proves only that its holder received the survey.
	Token string
	// URL is the survey's page: opening URL+"?score=N" records N with one
	// click (once); the page itself takes a score and a comment.
	URL string
	// Lang is "zh" or "en": the language of Question and the page.
	Lang string
	// Question is the question alone, without the instructions Text adds.
	Question string
	// Until is when answers stop being taken.
	Until time.Time
}

// KindSurvey is an outbound satisfaction survey (Outbound.Survey is set).
const KindSurvey Kind = "survey"
