package router

import (
	"context"
	"strings"
	"testing"
	"time"

	"switchboard/kb"
	"switchboard/kpi"
	"switchboard/session"
)

// fakeFAQ answers confidently when the question holds one of its keys.
type fakeFAQ map[string]kb.Article

func (f fakeFAQ) Answer(_ context.Context, q, _ string) (kb.Answer, error) {
	for k, a := range f {
		if strings.Contains(q, k) {
			return kb.Answer{Article: a, Score: 0.9, Confident: true}, nil
		}
	}
	return kb.Answer{Score: 0.1}, nil
}

func botWorld(t *testing.T) (*world, *Router) {
	t.Helper()
	w := newWorld(t, append([]session.Agent(nil), slaAgents[:1]...), []session.Team{{ID: "support", Name: "Support"}}, nil)
	w.cfg.Bot = kb.BotConfig{Channels: []string{"webchat"}}
	w.faq = fakeFAQ{"发票": {ID: "inv", Title: "如何开发票", Body: "在订单页点击 **申请发票**。"}}
	r, pres, ev := w.replica()
	run(t, r, ev)
	onlineAll(t, pres, slaAgents[:1])
	return w, r
}

// botMessages are the bot's messages sent in conversation id.
func botMessages(w *world, id string) []string {
	var out []string
	for _, m := range sentTo(w, id) {
		if m.Automatic && m.Author == botName {
			out = append(out, m.Text)
		}
	}
	return out
}

// The bot answers a question it knows, says so when it does not, and
// hands over at the second unanswered question; the conversation reaches
// an agent only then, with the exchange in its transcript.
func TestBotAnswersThenHandsOver(t *testing.T) {
	w, r := botWorld(t)
	ctx := context.Background()
	acc, err := r.Ingest(ctx, webchatMsg("v-bot", "b1", "请问怎么开发票？"))
	if err != nil {
		t.Fatal(err)
	}
	id := acc.ConversationID
	eventually(t, "the bot's answer", func() bool { return len(botMessages(w, id)) == 1 })
	got := botMessages(w, id)[0]
	if !strings.HasPrefix(got, kb.DefaultGreeting.ZH) || !strings.Contains(got, "如何开发票") ||
		!strings.Contains(got, "申请发票") || strings.Contains(got, "**") || !strings.Contains(got, "转人工") {
		t.Fatalf("bot answer %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	if c, _ := r.Conversation(ctx, id); c.Assignee != "" || c.TicketID != "" {
		t.Fatalf("the bot's conversation was dispatched: %+v", c)
	}
	if _, err := r.Ingest(ctx, webchatMsg("v-bot", "b2", "那退货呢")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "no answer", func() bool { return len(botMessages(w, id)) == 2 })
	if got := botMessages(w, id)[1]; got != kb.DefaultNoAnswer.ZH {
		t.Fatalf("second bot message %q", got)
	}
	if _, err := r.Ingest(ctx, webchatMsg("v-bot", "b3", "还是不明白")); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the handoff", func() bool {
		c, _ := r.Conversation(ctx, id)
		return c.Assignee == "a00" && c.TicketID != ""
	})
	if got := botMessages(w, id); len(got) != 3 || got[2] != kb.DefaultHandoff.ZH {
		t.Fatalf("bot messages %q", got)
	}
	if h := historyField(t, r, id, "bot"); strings.Join(h, ",") != "engaged,answered,no_answer,handoff" {
		t.Fatalf("bot history %q", h)
	}
	// A message after the handoff goes to people, not the bot.
	if _, err := r.Ingest(ctx, webchatMsg("v-bot", "b4", "发票抬头写错了")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(botMessages(w, id)); n != 3 {
		t.Fatalf("the bot spoke after the handoff: %d messages", n)
	}
	evs, err := r.KPIEvents().Events(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rep := kpi.Compute(evs, kpi.Filter{})
	if rep.Bot.Engaged != 1 || rep.Bot.Answered != 1 || rep.Bot.HandedOff != 1 || rep.Bot.Deflected != 0 {
		t.Errorf("bot KPIs %+v", rep.Bot)
	}
}

// "转人工" hands over at once; a question the bot answers and nothing more
// is a deflected conversation in the KPIs.
func TestBotHandoffKeywordAndDeflection(t *testing.T) {
	w, r := botWorld(t)
	ctx := context.Background()
	acc, err := r.Ingest(ctx, webchatMsg("v-human", "h1", "转人工"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the handoff", func() bool {
		c, _ := r.Conversation(ctx, acc.ConversationID)
		return c.Assignee == "a00"
	})
	if got := botMessages(w, acc.ConversationID); len(got) != 1 || got[0] != kb.DefaultHandoff.ZH {
		t.Fatalf("bot messages %q", got)
	}
	acc2, err := r.Ingest(ctx, webchatMsg("v-faq", "f1", "发票怎么开"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the answer", func() bool { return len(botMessages(w, acc2.ConversationID)) == 1 })
	evs, err := r.KPIEvents().Events(ctx, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	rep := kpi.Compute(evs, kpi.Filter{})
	if rep.Bot.Engaged != 2 || rep.Bot.HandedOff != 1 || rep.Bot.Deflected != 1 {
		t.Errorf("bot KPIs %+v, want 2 engaged, 1 handed off, 1 deflected", rep.Bot)
	}
}
