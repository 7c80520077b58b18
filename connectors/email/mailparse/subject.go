package mailparse

import (
	"regexp"
	"strings"
)

// Ticket tokens are 4 to 9 digits: Switchboard's numbers start at 10000,
// and the shared fixtures use 4-digit ones ("[#1001]").
var tokenPattern = regexp.MustCompile(`[\[【〔〖]\s*#\s*([0-9]{4,9})\s*[\]】〕〗]`)

// SubjectToken finds a ticket token such as "[#10042]" in a subject and
// returns its number ("10042"). It tolerates spaces inside the brackets and
// full-width forms ("【#10042】", "［＃１００４２］"); leading zeros are
// dropped. The first token wins.
func SubjectToken(subject string) (ticket string, ok bool) {
	if len(subject) > 4096 {
		subject = subject[:4096]
	}
	m := tokenPattern.FindStringSubmatch(foldWidth(subject))
	if m == nil {
		return "", false
	}
	n := strings.TrimLeft(m[1], "0")
	if len(n) < 4 {
		return "", false
	}
	return n, true
}

// foldWidth turns full-width ASCII forms (U+FF01–U+FF5E) and the ideographic
// space into ASCII.
func foldWidth(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			return r - 0xFEE0
		case r == 0x3000:
			return ' '
		}
		return r
	}, s)
}

var replyPrefix = regexp.MustCompile(`(?i)^\s*(re|fwd?|aw|wg|回复|回覆|答复|答覆|转发|轉發|轉寄|转寄)\s*(\[\d{1,3}\]|\(\d{1,3}\))?\s*[:：]\s*`)

// NormalizeSubject strips reply and forward prefixes, repeated and in any
// mix: "Re:", "RE:", "Fwd:", "FW:", "Re[2]:", German Outlook's "AW:" and
// "WG:", and "回复", "答复", "转发" (and their traditional forms), each with
// an ASCII or full-width colon. Whitespace is collapsed.
func NormalizeSubject(subject string) string {
	s := strings.Join(strings.Fields(subject), " ")
	for {
		loc := replyPrefix.FindStringIndex(s)
		if loc == nil || loc[1] == 0 {
			break
		}
		s = s[loc[1]:]
	}
	return strings.TrimSpace(s)
}
