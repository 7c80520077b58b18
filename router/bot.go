package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"switchboard/connectors"
	"switchboard/kb"
)

// The FAQ bot. On the channels kb.BotConfig names, a new conversation's
// first message goes to the bot instead of dispatch: it answers from the
// knowledge base when it is confident, says it has no answer otherwise,
// and hands the conversation to dispatch when the customer asks for a
// person or it fails to answer too often (kb.BotConfig.Decide). While the
// bot has a conversation (field bot = active) each customer message comes
// back to it through the dispatch stream (kind "bot"). Its steps are
// history entries (field bot: engaged, answered, no_answer, handoff),
// which the KPIs read for the deflection rate; its messages are automatic
// ones by author "bot": no response for SLA clocks, no agent's reply.

// botAuthor is the author of the FAQ bot's replies in a transcript.
const botAuthor = "bot"

// FAQ answers questions from the knowledge base (*kb.Store).
type FAQ interface {
	Answer(ctx context.Context, question, lang string) (kb.Answer, error)
}

// botName is how the inbox names the bot's messages.
const botName = "智能助手 / FAQ bot"

// botTurn gives the bot its turn on a customer message (a dispatch entry
// of kind "new" or "bot"). It reports whether the bot kept the
// conversation; false means dispatch routes it as usual. Turns of one
// conversation run one at a time across replicas, each once: a repeated
// entry (a retry, a replayed batch) finds its message handled.
func (r *Router) botTurn(ctx context.Context, conv Conversation, kind string, v map[string]any) (bool, error) {
	if r.faq == nil || conv.Channel == connectors.CTI || !r.cfg.Bot.Enabled(string(conv.Channel), conv.Account) {
		return false, nil
	}
	if kind == "new" && str(v, "passive") == "1" {
		return false, nil // a follow, an auto-reply: no question for the bot
	}
	var release func()
	for wait := 0; ; wait++ {
		rel, ok, err := r.lockConversation(ctx, conv.ID, "bot")
		if err != nil {
			return false, err
		}
		if ok {
			release = rel
			break
		}
		if wait == 50 {
			return false, fmt.Errorf("router: bot: the conversation's previous turn is still running")
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	defer release()
	conv, err := r.load(ctx, conv.ID) // as the previous turn left it
	if err != nil {
		return false, err
	}
	state := conv.fields["bot"]
	switch {
	case state == "handoff" || conv.TicketID != "" || conv.Assignee != "":
		// People have it: a late bot entry changes nothing.
		return kind == "bot", nil
	case kind == "bot" && state != "active":
		return true, nil
	}
	msgKey := str(v, "msg")
	if msgKey == "" {
		msgKey = "first"
	}
	if conv.fields["bot_last"] == msgKey {
		return state == "active", nil // this message had its turn
	}
	text := str(v, "text")
	if text == "" {
		text = conv.fields["subject"]
	}
	first := state == ""
	if first {
		// Active from now, so the customer's next messages come to the bot
		// even while this turn runs.
		if err := r.rdb.HSetNX(ctx, r.k.conv(conv.ID), "bot", "active").Err(); err != nil {
			return false, fmt.Errorf("router: bot: %w", err)
		}
	}
	lang := kb.DetectLang(text)
	ans, err := r.faq.Answer(ctx, text, lang)
	if err != nil {
		// A knowledge base that cannot answer must not keep the customer
		// from people.
		r.log.Warn("router: bot cannot search; handing over", "conversation", conv.ID, "err", err)
		ans = kb.Answer{}
	}
	unanswered, _ := strconv.Atoi(conv.fields["bot_unanswered"])
	d := r.cfg.Bot.Decide(text, ans, unanswered)
	if err != nil && d.Action != kb.ActionHandoff {
		d.Action, d.Text = kb.ActionHandoff, r.cfg.Bot.WithDefaults().Handoff.In(d.Lang)
	}
	out := d.Text
	if first && d.Action != kb.ActionHandoff {
		out = r.cfg.Bot.WithDefaults().Greeting.In(d.Lang) + "\n\n" + out
	}
	fields := map[string]string{"bot": string(d.Action)}
	if d.Action == kb.ActionAnswer {
		fields["article"] = d.Article.ID
	}
	if _, err := r.sendAutomatic(ctx, conv, autoMessage{Author: botAuthor, AuthorName: botName, Text: out,
		Fields: fields, Key: "bot:" + msgKey}); err != nil && !errors.Is(err, errNoSend) {
		return false, err
	}
	var steps []string
	if first {
		steps = append(steps, "engaged")
	}
	newState := "active"
	switch d.Action {
	case kb.ActionAnswer:
		steps = append(steps, "answered")
	case kb.ActionNoAnswer:
		steps = append(steps, "no_answer")
	default:
		steps, newState = append(steps, "handoff"), "handoff"
	}
	// The turn's record, at once: its steps, the count, the message it
	// handled and, on a handoff, the end of the bot's part.
	now := ms(r.now())
	p := r.rdb.TxPipeline()
	for _, st := range steps {
		p.XAdd(ctx, &redis.XAddArgs{Stream: r.k.convHistory(conv.ID), Values: []any{"at", now, "actor", botAuthor,
			"field", "bot", "to", st}})
	}
	p.HSet(ctx, r.k.conv(conv.ID), "bot", newState, "bot_unanswered", d.Unanswered, "bot_last", msgKey)
	if _, err := p.Exec(ctx); err != nil {
		return false, fmt.Errorf("router: bot turn: %w", err)
	}
	b := r.rdb.Pipeline()
	if newState == "active" {
		// The bot keeps it: it waits for no agent (the unassigned list and
		// the repair tick are for conversations that do).
		b.ZRem(ctx, r.k.indexUnassigned(), conv.ID)
	}
	r.queueActivity(ctx, b, conv.ID, r.now())
	if _, err := b.Exec(ctx); err != nil {
		r.log.Warn("router: bot activity", "conversation", conv.ID, "err", err)
	}
	return newState == "active", nil
}
