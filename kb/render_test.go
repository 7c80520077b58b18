package kb

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	t.Parallel()
	full := ConversationVars("王先生", "10042", "李明")
	for _, tc := range []struct {
		name, body string
		v          Vars
		want       string
	}{
		{"all three", "{{customer.name}}您好，工单 #{{ticket.number}} 由{{agent.name}}处理。", full, "王先生您好，工单 #10042 由李明处理。"},
		{"spaces inside braces", "Hi {{ customer.name }}!", full, "Hi 王先生!"},
		{"unknown stays", "{{order.id}} and {{customer.name}}", full, "{{order.id}} and 王先生"},
		{"absent stays", "Hi {{customer.name}}, #{{ticket.number}}", Vars{VarAgentName: "Li"}, "Hi {{customer.name}}, #{{ticket.number}}"},
		{"empty takes the default", "{{customer.name|您}}好", ConversationVars("", "1", "a"), "您好"},
		{"empty without default is empty", "Hi {{customer.name}}!", ConversationVars(" ", "1", "a"), "Hi !"},
		{"value wins over default", "{{customer.name|您}}好", full, "王先生好"},
		{"values are not read again", "Hi {{customer.name}}", ConversationVars("{{agent.name}}", "", "李明"), "Hi {{agent.name}}"},
		{"values are plain text", "{{customer.name}}", ConversationVars("<b>&amp;</b>", "", ""), "<b>&amp;</b>"},
		{"malformed stays", "{{customer.name} {{ }} {{Customer.Name}} {customer.name}", full, "{{customer.name} {{ }} {{Customer.Name}} {customer.name}"},
		{"no placeholders", "谢谢您的耐心等待。", nil, "谢谢您的耐心等待。"},
	} {
		if got := Render(tc.body, tc.v); got != tc.want {
			t.Errorf("%s: Render(%q) = %q, want %q", tc.name, tc.body, got, tc.want)
		}
	}
}

func FuzzRender(f *testing.F) {
	f.Add("{{customer.name}} {{ticket.number|无}} {{agent.name}}", "王先生")
	f.Add("{{x}}{{", "{{customer.name}}")
	f.Fuzz(func(t *testing.T, body, name string) {
		out := Render(body, Vars{VarCustomerName: name})
		if !strings.Contains(body, "{{") && out != body {
			t.Fatalf("Render changed %q without placeholders into %q", body, out)
		}
		if got := Render(body, nil); got != body {
			t.Fatalf("Render with no values changed %q into %q", body, got)
		}
		// A value never expands: with a marker for a name, every
		// marker in the output is one the body's placeholder put there.
		const marker = "\x00NAME\x00"
		if strings.Contains(body, marker) {
			return
		}
		n := strings.Count(Render(body, Vars{VarCustomerName: marker}), marker)
		if n > strings.Count(body, VarCustomerName) {
			t.Fatalf("Render(%q) put the name %d times", body, n)
		}
	})
}
