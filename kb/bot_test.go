package kb

import (
	"strings"
	"testing"
)

func TestWantsHuman(t *testing.T) {
	t.Parallel()
	var c BotConfig // the default keywords
	for _, tc := range []struct {
		text string
		want bool
	}{
		{"转人工", true},
		{"转 人工！", true},
		{"我要找人工客服", true},
		{"客服在吗", true},
		{"I want to talk to a person", true},
		{"Talk  to a PERSON!!", true},
		{"ＡＧＥＮＴ please", true}, // full-width
		{"agent?", true},
		{"我要agent", true},
		{"real human pls", true},
		{"Operator!", true},
		{"我想退货", false},
		{"how do I become one of your agents", false}, // a whole word only
		{"humanity", false},
		{"where is my parcel", false},
		{"", false},
	} {
		if got := c.WantsHuman(tc.text); got != tc.want {
			t.Errorf("WantsHuman(%q) = %v, want %v", tc.text, got, tc.want)
		}
	}
	own := BotConfig{HandoffKeywords: []string{"真人", "Supervisor"}}
	if !own.WantsHuman("找个真人") || !own.WantsHuman("SUPERVISOR now") || own.WantsHuman("转人工") {
		t.Error("configured keywords replace the defaults")
	}
}

func TestBotDefaultsAndValidate(t *testing.T) {
	t.Parallel()
	d := BotConfig{}.WithDefaults()
	if d.MinScore != DefaultMinScore || d.Margin != DefaultMargin || d.MaxUnanswered != DefaultMaxUnanswered ||
		len(d.HandoffKeywords) != len(DefaultHandoffKeywords) {
		t.Errorf("defaults: %+v", d)
	}
	for _, tx := range []Text{d.Greeting, d.Handoff, d.NoAnswer, d.AnswerFooter} {
		if tx.ZH == "" || tx.EN == "" || !hasHan(tx.ZH) || hasHan(tx.EN) {
			t.Errorf("a default text is not in both languages: %+v", tx)
		}
	}
	kept := BotConfig{MinScore: 0.8, Handoff: Text{EN: "One moment."}}.WithDefaults()
	if kept.MinScore != 0.8 || kept.Handoff.EN != "One moment." || kept.Handoff.ZH != DefaultHandoff.ZH {
		t.Errorf("set values must stay, empty ones take the defaults: %+v", kept)
	}

	if err := (BotConfig{Channels: []string{"webchat", "wechat_oa:main", "*"}, MinScore: 0.7, MaxUnanswered: -1}).Validate(); err != nil {
		t.Errorf("a good config: %v", err)
	}
	err := BotConfig{MinScore: 1.5, Margin: -0.1, MaxUnanswered: -2, HandoffKeywords: []string{" "}, Channels: []string{"webchat:"}}.Validate()
	for _, key := range []string{"min_score", "margin", "max_unanswered", "handoff_keywords[0]", "channels[0]"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("Validate does not name %s: %v", key, err)
		}
	}
}

func TestBotEnabled(t *testing.T) {
	t.Parallel()
	c := BotConfig{Channels: []string{"webchat", "wechat_oa:main"}}
	for _, tc := range []struct {
		channel, account string
		want             bool
	}{
		{"webchat", "shop", true},
		{"wechat_oa", "main", true},
		{"wechat_oa", "other", false},
		{"email", "support", false},
	} {
		if got := c.Enabled(tc.channel, tc.account); got != tc.want {
			t.Errorf("Enabled(%s, %s) = %v", tc.channel, tc.account, got)
		}
	}
	if !(BotConfig{Channels: []string{"*"}}).Enabled("email", "x") || (BotConfig{}).Enabled("webchat", "shop") {
		t.Error(`"*" is every channel; no channels is none`)
	}
}

func TestDecide(t *testing.T) {
	t.Parallel()
	art := Article{ID: "a1", Title: "退货退款流程", Body: "## 申请\n点击**申请退货**。"}
	sure := Answer{Article: art, Score: 1, Runner: 0.5, Confident: true}
	unsure := Answer{Article: art, Score: 0.4}
	var c BotConfig
	for _, tc := range []struct {
		name       string
		cfg        BotConfig
		question   string
		ans        Answer
		unanswered int
		action     Action
		lang       string
		text       string // a part of the text
		after      int
	}{
		{"a keyword hands over even with an answer", c, "退货，转人工", sure, 0, ActionHandoff, "zh", DefaultHandoff.ZH, 0},
		{"confident answers", c, "我想退货怎么弄", sure, 0, ActionAnswer, "zh", "退货退款流程\n申请\n点击申请退货。\n\n" + DefaultAnswerFooter.ZH, 0},
		{"first unanswered asks again", c, "how about this", unsure, 0, ActionNoAnswer, "en", DefaultNoAnswer.EN, 1},
		{"second unanswered hands over", c, "and that?", unsure, 1, ActionHandoff, "en", DefaultHandoff.EN, 2},
		{"-1 hands over at the first", BotConfig{MaxUnanswered: -1}, "嗯？", unsure, 0, ActionHandoff, "zh", DefaultHandoff.ZH, 1},
		{"3 allows three", BotConfig{MaxUnanswered: 3}, "嗯？", Answer{}, 2, ActionNoAnswer, "zh", DefaultNoAnswer.ZH, 3},
		{"own texts", BotConfig{Handoff: Text{ZH: "马上为您转接。"}}, "人工", Answer{}, 0, ActionHandoff, "zh", "马上为您转接。", 0},
		// The config's thresholds decide, not the store's verdict.
		{"a stricter margin", BotConfig{Margin: 0.6}, "我想退货", sure, 0, ActionNoAnswer, "zh", DefaultNoAnswer.ZH, 1},
		{"a looser minimum", BotConfig{MinScore: 0.3}, "我想退货", unsure, 0, ActionAnswer, "zh", "退货退款流程", 0},
	} {
		d := tc.cfg.Decide(tc.question, tc.ans, tc.unanswered)
		if d.Action != tc.action || d.Lang != tc.lang || !strings.Contains(d.Text, tc.text) || d.Unanswered != tc.after {
			t.Errorf("%s: %+v; want %s in %s with %q, %d unanswered", tc.name, d, tc.action, tc.lang, tc.text, tc.after)
		}
		if (d.Action == ActionAnswer) != (d.Article.ID != "") {
			t.Errorf("%s: article %q with action %s", tc.name, d.Article.ID, d.Action)
		}
	}
}
