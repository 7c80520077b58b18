package wechat

import (
	"context"
	"testing"

	"switchboard/connectors"
	"switchboard/connectors/wechat/wxfake"
	"switchboard/internal/redistest"
)

// wechatTextLimit is the most a customer-service text message may carry,
// in bytes.
const wechatTextLimit = 2048

// A survey goes to WeChat as a text message, its text unchanged: the
// question and how to answer by typing a number, which WeChat users do.
// Both default surveys fit WeChat's limit.
func TestSendSurvey(t *testing.T) {
	rdb, prefix := redistest.Client(t)
	fake := wxfake.New(wxfake.App{AppID: testAppID, Secret: "secret"})
	defer fake.Close()
	c := replica(t, fake, connectors.Env{Redis: rdb, Prefix: prefix})
	const page = "https://cs.example.com/survey/01CONV.01SV.mac"
	for i, tc := range []struct {
		name string
		sv   connectors.Survey
		text string
	}{
		{"csat in Chinese", connectors.Survey{Kind: "csat", Min: 1, Max: 5, Token: "t", URL: page, Lang: "zh",
			Question: "您好，您的问题已处理完毕。您对本次服务满意吗？"},
			"您好，您的问题已处理完毕。您对本次服务满意吗？\n请回复数字 1–5 评分（5 = 非常满意，1 = 非常不满意）。"},
		{"nps in English", connectors.Survey{Kind: "nps", Min: 0, Max: 10, Token: "t", URL: page, Lang: "en",
			Question: "How likely are you to recommend us to a friend or colleague?"},
			"How likely are you to recommend us to a friend or colleague?\n" +
				"Reply with a number from 0 to 10 (10 = extremely likely, 0 = not at all likely)."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := outbound("survey"+string(rune('a'+i)), tc.text)
			m.Kind, m.Survey, m.Automatic, m.Author = connectors.KindSurvey, &tc.sv, true, "Switchboard"
			for range 2 { // an outbox retry sends nothing more
				if _, err := c.Send(context.Background(), m); err != nil {
					t.Fatal(err)
				}
			}
			sent := fake.Sent()
			if len(sent) != i+1 {
				t.Fatalf("%d messages reached WeChat, want %d", len(sent), i+1)
			}
			got := sent[i]
			if got.MsgType != "text" || got.ToUser != "oUser12345" || got.Content != tc.text {
				t.Errorf("WeChat got %s to %s: %q, want the text %q", got.MsgType, got.ToUser, got.Content, tc.text)
			}
			if n := len(got.Content); n > wechatTextLimit {
				t.Errorf("the survey is %d bytes, over WeChat's %d", n, wechatTextLimit)
			}
		})
	}
}
