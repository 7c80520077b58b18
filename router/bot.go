package router

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/redis/go-redis/v9"

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
// conversation; false means dispatch routes it as usual.
func (r *Router) botTurn(ctx context.Context, conv Conversation, kind string, v map[string]any) (bool, error) {
	state := conv.fields["bot"]
	if r.faq == nil || !r.cfg.Bot.Enabled(string(conv.Channel), conv.Account) {
		return false, nil
	}
	switch {
	case state == "handoff" || conv.TicketID != "" || conv.Assignee != "":
		// People have it: a late bot entry changes nothing.
		return kind == "bot", nil
	case kind == "bot" && state != "active":
		return true, nil
	}
	text := str(v, "text")
	if text == "" {
		text = conv.fields["subject"]
	}
	msgKey := str(v, "msg")
	if msgKey == "" {
		msgKey = "first"
	}
	first := state == ""
	if first {
		ok, err := r.rdb.HSetNX(ctx, r.k.conv(conv.ID), "bot", "active").Result()
		if err != nil {
			return false, fmt.Errorf("router: bot: %w", err)
		}
		if ok {
			if err := r.botStep(ctx, conv.ID, "engaged"); err != nil {
				return false, err
			}
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
	if err := r.rdb.HSet(ctx, r.k.conv(conv.ID), "bot_unanswered", d.Unanswered).Err(); err != nil {
		return false, fmt.Errorf("router: bot: %w", err)
	}
	fields := map[string]string{"bot": string(d.Action)}
	if d.Action == kb.ActionAnswer {
		fields["article"] = d.Article.ID
	}
	if _, err := r.sendAutomatic(ctx, conv, autoMessage{Author: botAuthor, AuthorName: botName, Text: out,
		Fields: fields, Key: "bot:" + msgKey}); err != nil && !errors.Is(err, errNoSend) {
		return false, err
	}
	switch d.Action {
	case kb.ActionAnswer, kb.ActionNoAnswer:
		// The bot keeps it: it waits for no agent (the unassigned list and
		// the repair tick are for conversations that do).
		if err := r.rdb.ZRem(ctx, r.k.indexUnassigned(), conv.ID).Err(); err != nil {
			return false, fmt.Errorf("router: bot: %w", err)
		}
		step := "answered"
		if d.Action == kb.ActionNoAnswer {
			step = "no_answer"
		}
		return true, r.botStep(ctx, conv.ID, step)
	}
	if err := r.botStep(ctx, conv.ID, "handoff"); err != nil {
		return false, err
	}
	if err := r.rdb.HSet(ctx, r.k.conv(conv.ID), "bot", "handoff").Err(); err != nil {
		return false, fmt.Errorf("router: bot: %w", err)
	}
	return false, nil
}

// botStep records one of the bot's steps in the ticket history.
func (r *Router) botStep(ctx context.Context, id, step string) error {
	p := r.rdb.Pipeline()
	p.XAdd(ctx, &redis.XAddArgs{Stream: r.k.convHistory(id), Values: []any{"at", ms(r.now()), "actor", botAuthor,
		"field", "bot", "to", step}})
	r.queueActivity(ctx, p, id, r.now())
	if _, err := p.Exec(ctx); err != nil {
		return fmt.Errorf("router: bot step: %w", err)
	}
	return nil
}
