package kb

import (
	"regexp"
	"strings"
)

// The placeholders a canned reply may use. The server fills all three for
// a conversation: the customer's name as the customer record has it, the
// ticket number (such as 10042) and the name of the agent who inserts the
// reply.
const (
	VarCustomerName = "customer.name"
	VarTicketNumber = "ticket.number"
	VarAgentName    = "agent.name"
)

// Vars are the values of placeholders, by name (VarCustomerName, …). A
// name that is present fills its placeholder, even with "" (which then
// takes the placeholder's default); a name that is absent leaves the
// placeholder as written.
type Vars map[string]string

// ConversationVars are the values for one conversation.
func ConversationVars(customerName, ticketNumber, agentName string) Vars {
	return Vars{VarCustomerName: customerName, VarTicketNumber: ticketNumber, VarAgentName: agentName}
}

// placeholderRe is {{name}} or {{name|default}}, with optional spaces
// inside the braces; a name is dotted lower-case words.
var placeholderRe = regexp.MustCompile(`\{\{\s*([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*)\s*(?:\|([^{}]*))?\}\}`)

// Render fills a canned reply's placeholders from v in one pass: values
// are plain text and are never read as placeholders themselves. A
// placeholder may carry a default for an empty value:
// {{customer.name|您}} is "您" when the customer has no name. Unknown
// placeholders, and any that v does not name, stay as written.
func Render(body string, v Vars) string {
	if !strings.Contains(body, "{{") {
		return body
	}
	return placeholderRe.ReplaceAllStringFunc(body, func(m string) string {
		sub := placeholderRe.FindStringSubmatch(m)
		val, ok := v[sub[1]]
		if !ok {
			return m
		}
		if strings.TrimSpace(val) == "" {
			return strings.TrimSpace(sub[2])
		}
		return val
	})
}
