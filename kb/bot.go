package kb

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Defaults of the FAQ bot.
const (
	DefaultMinScore      = 0.6
	DefaultMargin        = 0.15
	DefaultMaxUnanswered = 1
)

// DefaultHandoffKeywords are what a customer writes to reach a person.
var DefaultHandoffKeywords = []string{"转人工", "人工", "人工客服", "客服", "agent", "human", "talk to a person", "operator"}

// Text is a text the bot sends, in Chinese and English.
type Text struct {
	ZH string `yaml:"zh" json:"zh"`
	EN string `yaml:"en" json:"en"`
}

// In returns the text in lang ("zh" or anything else for English).
func (t Text) In(lang string) string {
	if lang == "zh" {
		return t.ZH
	}
	return t.EN
}

// Default texts of the bot.
var (
	DefaultGreeting = Text{
		ZH: "您好，我是智能助手，可以先帮您查找常见问题的答案。需要人工服务请随时回复“转人工”。",
		EN: "Hello! I'm the help bot and can look up answers to common questions. Reply \"talk to a person\" at any time to reach an agent.",
	}
	DefaultHandoff = Text{
		ZH: "好的，正在为您转接人工客服，请稍候。",
		EN: "Sure, I'm passing you to a member of our team. Please wait a moment.",
	}
	DefaultNoAnswer = Text{
		ZH: "抱歉，我没有找到合适的答案。您可以换个说法再问一次，或回复“转人工”联系人工客服。",
		EN: "Sorry, I couldn't find an answer to that. Try asking another way, or reply \"talk to a person\" to reach an agent.",
	}
	DefaultAnswerFooter = Text{
		ZH: "以上是否解决了您的问题？需要人工服务请回复“转人工”。",
		EN: "Did this answer your question? Reply \"talk to a person\" to reach an agent.",
	}
)

// BotConfig configures the FAQ bot: on the channels it is on, a
// customer's first messages are matched against the knowledge base
// (Store.Answer) and Decide says what the bot does with each.
type BotConfig struct {
	// Channels the bot answers on: a channel ("webchat"), a channel
	// account ("webchat:shop") or "*" for all.
	Channels []string `yaml:"channels" json:"channels"`
	// HandoffKeywords hand the conversation to a person whenever a
	// customer's message holds one (DefaultHandoffKeywords when empty).
	HandoffKeywords []string `yaml:"handoff_keywords" json:"handoff_keywords"`
	// MinScore is the least score (0–1) of a confident answer; 0 takes
	// DefaultMinScore.
	MinScore float64 `yaml:"min_score" json:"min_score"`
	// Margin is how far (0–1) a confident answer's score must be above
	// the runner-up's; 0 takes DefaultMargin.
	Margin float64 `yaml:"margin" json:"margin"`
	// MaxUnanswered is how many questions the bot may fail to answer
	// before it hands the conversation over: 0 takes the default (1: the
	// second unanswered question hands over); -1 hands over at the first.
	MaxUnanswered int `yaml:"max_unanswered" json:"max_unanswered"`
	// Greeting opens the bot's first answer; Handoff is sent when it hands
	// over; NoAnswer when it cannot answer and does not hand over yet;
	// AnswerFooter follows each article it sends. Empty texts take the
	// defaults (DefaultGreeting, …).
	Greeting     Text `yaml:"greeting" json:"greeting"`
	Handoff      Text `yaml:"handoff" json:"handoff"`
	NoAnswer     Text `yaml:"no_answer" json:"no_answer"`
	AnswerFooter Text `yaml:"answer_footer" json:"answer_footer"`
}

// WithDefaults fills in what c leaves empty.
func (c BotConfig) WithDefaults() BotConfig {
	if len(c.HandoffKeywords) == 0 {
		c.HandoffKeywords = DefaultHandoffKeywords
	}
	if c.MinScore == 0 {
		c.MinScore = DefaultMinScore
	}
	if c.Margin == 0 {
		c.Margin = DefaultMargin
	}
	if c.MaxUnanswered == 0 {
		c.MaxUnanswered = DefaultMaxUnanswered
	}
	for _, t := range []struct{ have, def *Text }{{&c.Greeting, &DefaultGreeting}, {&c.Handoff, &DefaultHandoff},
		{&c.NoAnswer, &DefaultNoAnswer}, {&c.AnswerFooter, &DefaultAnswerFooter}} {
		if strings.TrimSpace(t.have.ZH) == "" {
			t.have.ZH = t.def.ZH
		}
		if strings.TrimSpace(t.have.EN) == "" {
			t.have.EN = t.def.EN
		}
	}
	return c
}

// Validate checks c; each error names its key.
func (c BotConfig) Validate() error {
	var errs []error
	if c.MinScore < 0 || c.MinScore > 1 {
		errs = append(errs, fmt.Errorf("min_score: must be between 0 and 1, got %v", c.MinScore))
	}
	if c.Margin < 0 || c.Margin > 1 {
		errs = append(errs, fmt.Errorf("margin: must be between 0 and 1, got %v", c.Margin))
	}
	if c.MaxUnanswered < -1 {
		errs = append(errs, fmt.Errorf("max_unanswered: must be -1 or more, got %d", c.MaxUnanswered))
	}
	for i, k := range c.HandoffKeywords {
		if n := len([]rune(strings.TrimSpace(k))); n == 0 || n > 50 {
			errs = append(errs, fmt.Errorf("handoff_keywords[%d]: must have 1–50 characters", i))
		}
	}
	for i, ch := range c.Channels {
		name, account, _ := strings.Cut(ch, ":")
		if name == "" || strings.ContainsAny(ch, " \t") || (strings.Contains(ch, ":") && account == "") {
			errs = append(errs, fmt.Errorf("channels[%d]: %q is not a channel, channel:account or *", i, ch))
		}
	}
	return errors.Join(errs...)
}

// Enabled reports whether the bot answers on a channel account.
func (c BotConfig) Enabled(channel, account string) bool {
	for _, ch := range c.Channels {
		if ch == "*" || ch == channel || ch == channel+":"+account {
			return true
		}
	}
	return false
}

// Judge says whether an answer with score and the runner-up's score is
// confident under c's thresholds (defaults for zero values).
func (c BotConfig) Judge(score, runner float64) bool {
	c = c.WithDefaults()
	return score > 0 && score >= c.MinScore && score-runner >= c.Margin
}

// WantsHuman reports whether text asks for a person: it holds a handoff
// keyword, whatever its case and width (ＡＧＥＮＴ, Agent). Chinese
// keywords match anywhere, spaces ignored (转 人工); English ones as whole
// words ("agent" is not in "agents", punctuation aside).
func (c BotConfig) WantsHuman(text string) bool {
	words := " " + wordsOnly(text) + " "
	han := strings.Join(strings.Fields(foldCase(text)), "")
	for _, k := range c.WithDefaults().HandoffKeywords {
		if hasHan(k) {
			if k = strings.Join(strings.Fields(foldCase(k)), ""); k != "" && strings.Contains(han, k) {
				return true
			}
			continue
		}
		if k = wordsOnly(k); k != "" && strings.Contains(words, " "+k+" ") {
			return true
		}
	}
	return false
}

// Action is what the bot does with a customer's message.
type Action string

// The bot's actions.
const (
	// ActionAnswer sends the article, marked as the bot's.
	ActionAnswer Action = "answer"
	// ActionNoAnswer says it has no answer and offers a person; the
	// conversation stays with the bot.
	ActionNoAnswer Action = "no_answer"
	// ActionHandoff hands the conversation to dispatch, with the bot's
	// exchange in its history.
	ActionHandoff Action = "handoff"
)

// Decision is the bot's move on one message.
type Decision struct {
	Action Action
	// Reason says why: "asked_for_human", "confident", "not_confident"
	// or "too_many_unanswered".
	Reason string
	// Lang is the message's language ("zh" or "en"), which Text is in.
	Lang string
	// Text is what the bot sends.
	Text string
	// Article is the article sent (ActionAnswer).
	Article Article
	// Unanswered counts the customer's questions the bot could not answer,
	// this one included.
	Unanswered int
}

// Decide says what the bot does with question, given the knowledge
// base's answer to it and the number of the customer's questions it has
// not answered so far. In order: a handoff keyword hands over; an answer
// confident by c's thresholds (Judge on its Score and Runner, whatever
// the store that made it judged) is sent (title, plain text,
// AnswerFooter); otherwise the question is unanswered, and once more than
// MaxUnanswered are, the conversation is handed over, else the bot says
// NoAnswer. The caller opens its first message with Greeting.
func (c BotConfig) Decide(question string, ans Answer, unanswered int) Decision {
	c = c.WithDefaults()
	d := Decision{Lang: DetectLang(question), Unanswered: unanswered}
	switch {
	case c.WantsHuman(question):
		d.Action, d.Reason, d.Text = ActionHandoff, "asked_for_human", c.Handoff.In(d.Lang)
	case ans.Article.ID != "" && c.Judge(ans.Score, ans.Runner):
		d.Action, d.Reason, d.Article = ActionAnswer, "confident", ans.Article
		d.Text = c.AnswerText(ans.Article, d.Lang)
	default:
		d.Unanswered++
		if d.Unanswered > max(c.MaxUnanswered, 0) {
			d.Action, d.Reason, d.Text = ActionHandoff, "too_many_unanswered", c.Handoff.In(d.Lang)
		} else {
			d.Action, d.Reason, d.Text = ActionNoAnswer, "not_confident", c.NoAnswer.In(d.Lang)
		}
	}
	return d
}

// AnswerText is what the bot sends for an article: its title, its body
// as plain text, and the footer that offers a person.
func (c BotConfig) AnswerText(a Article, lang string) string {
	c = c.WithDefaults()
	return strings.TrimSpace(a.Title) + "\n" + PlainText(a.Body) + "\n\n" + c.AnswerFooter.In(lang)
}

// DetectLang says "zh" for text with Chinese characters, else "en".
func DetectLang(text string) string {
	if hasHan(text) {
		return "zh"
	}
	return "en"
}

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// foldCase is s in the form comparisons use: half-width, lower case,
// trimmed.
func foldCase(s string) string { return strings.ToLower(fold(strings.TrimSpace(s))) }

// containsFolded reports whether s holds needle (already foldCase'd).
func containsFolded(s, needle string) bool { return strings.Contains(foldCase(s), needle) }

// wordsOnly is s folded, as words of letters and digits between single
// spaces; a Chinese character is a word of its own ("我要agent" has the
// word "agent").
func wordsOnly(s string) string {
	var b strings.Builder
	for _, r := range foldCase(s) {
		switch {
		case unicode.Is(unicode.Han, r):
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
		case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '\'':
			b.WriteRune(r)
		default:
			b.WriteByte(' ')
		}
	}
	return strings.Join(strings.Fields(b.String()), " ")
}
