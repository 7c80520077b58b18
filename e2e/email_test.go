package e2e

import (
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"switchboard/internal/imaptest"
)

// swaks runs the swaks SMTP client against addr with the mail in file
// (or, with file empty, a small body) and returns its exit code and
// transcript. Extra arguments go to swaks as they are.
func swaks(t *testing.T, bin, addr, from, to, file string, extra ...string) (int, string) {
	t.Helper()
	args := []string{"--server", addr, "--from", from, "--to", to, "--timeout", "20", "--hide-informational"}
	if file != "" {
		args = append(args, "--data", "@"+file)
	}
	args = append(args, extra...)
	out, err := exec.Command(bin, args...).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	}
	if err != nil {
		t.Fatalf("swaks: %v", err)
	}
	return 0, string(out)
}

// TestEmailThroughSMTP hands mail to a replica's SMTP listener with swaks,
// as an MX would: a GBK mail opens a conversation with the decoded text,
// the customer's reply threads into it, an unknown recipient is refused
// with 550, an oversized mail with 552, and an auto-reply opens nothing.
func TestEmailThroughSMTP(t *testing.T) {
	requireE2E(t)
	bin := imaptest.Swaks(t)
	smtpAddr := freeAddr(t)
	c := startClusterWith(t, 1, "  email:\n    - {id: support, address: support@example.com, smtp_listen: \""+smtpAddr+
		"\", max_message_bytes: 65536}\n")
	r := c.replicas[0]
	agent := login(t, r.URL, agentEmail, agentPassword)

	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gbk := "../connectors/email/mailparse/testdata/gbk-plain.eml"
	if code, out := swaks(t, bin, smtpAddr, "wangrong@example.cn", "support@example.com", gbk); code != 0 {
		t.Fatalf("GBK mail: swaks exit %d:\n%s", code, out)
	}
	type conv struct {
		ID           string `json:"id"`
		Channel      string `json:"channel"`
		CustomerName string `json:"customer_name"`
	}
	find := func() []conv {
		var list struct {
			Items []conv `json:"items"`
		}
		agent.must(t, "GET", "/api/v1/conversations?view=all&channel=email", nil, &list, http.StatusOK)
		return list.Items
	}
	var convs []conv
	for deadline := time.Now().Add(waitTimeout); len(convs) == 0 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		convs = find()
	}
	if len(convs) != 1 || convs[0].CustomerName != "王镕" {
		t.Fatalf("conversations after the GBK mail: %+v", convs)
	}
	id := convs[0].ID
	msgs := agent.messages(t, id)
	if len(msgs) != 1 || !strings.Contains(msgs[0].Text, "订单 A1001 至今未发货") {
		t.Fatalf("messages: %+v", msgs)
	}

	// The customer answers their own mail: same conversation.
	reply := write("reply.eml", "From: =?UTF-8?B?546L6ZWV?= <wangrong@example.cn>\r\nTo: support@example.com\r\n"+
		"Subject: Re: =?UTF-8?B?5ZKo6K+i?=\r\nMessage-ID: <reply-1@example.cn>\r\nIn-Reply-To: <20231114221320.4F2A9C@example.cn>\r\n"+
		"References: <20231114221320.4F2A9C@example.cn>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"+
		"快递单号是多少？\r\n\r\n> 客服您好\r\n")
	if code, out := swaks(t, bin, smtpAddr, "wangrong@example.cn", "support@example.com", reply); code != 0 {
		t.Fatalf("reply: swaks exit %d:\n%s", code, out)
	}
	for deadline := time.Now().Add(waitTimeout); len(agent.messages(t, id)) < 2; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the reply did not thread into %s; conversations: %+v", id, find())
		}
	}
	if got := agent.messages(t, id)[1].Text; got != "快递单号是多少？" {
		t.Errorf("reply text %q: the quoted history should be stripped", got)
	}

	// Refusals, as SMTP answers.
	if code, out := swaks(t, bin, smtpAddr, "x@example.cn", "nobody@example.com", ""); code == 0 || !strings.Contains(out, "550") {
		t.Errorf("unknown recipient: exit %d:\n%s", code, out)
	}
	big := write("big.eml", "From: x@example.cn\r\nTo: support@example.com\r\nSubject: big\r\n\r\n"+strings.Repeat(strings.Repeat("x", 76)+"\r\n", 1000))
	if code, out := swaks(t, bin, smtpAddr, "x@example.cn", "support@example.com", big); code == 0 || !strings.Contains(out, "552") {
		t.Errorf("oversized: exit %d:\n%s", code, out)
	}
	auto := "../connectors/email/mailparse/testdata/auto-reply.eml"
	if code, out := swaks(t, bin, smtpAddr, "<>", "support@example.com", auto); code != 0 {
		t.Errorf("auto-reply: exit %d:\n%s", code, out)
	}
	time.Sleep(200 * time.Millisecond) // a conversation from it would be listed by now
	if got := find(); len(got) != 1 {
		t.Errorf("conversations after the refusals and the auto-reply: %+v", got)
	}
}
