package mailparse

import (
	"regexp"
	"strings"
)

var (
	// "-----Original Message-----", "-----原始邮件-----", QQ's
	// "------------------ 原始邮件 ------------------", Gmail's
	// "---------- Forwarded message ---------".
	separatorLine = regexp.MustCompile(`(?i)^[-—_=]{2,}\s*(original message|原始邮件|原始郵件|邮件原件|郵件原件|原邮件|forwarded message|转发邮件|轉寄郵件|转发的邮件)\s*[-—_=]{2,}$`)
	forwardedLine = regexp.MustCompile(`(?i)^(begin forwarded message|以下是转发的邮件)\s*[:：]?$`)
	// The first line of Outlook's and Foxmail's header block…
	fromLine = regexp.MustCompile(`(?i)^\*?\s*(from|发件人|寄件者|寄件人)\s*\*?\s*[:：]`)
	// …and a line that must follow it closely.
	sentLine = regexp.MustCompile(`(?i)^\*?\s*(sent|date|发送时间|发送日期|时间|日期|寄件日期|傳送時間|發送時間|傳送日期)\s*\*?\s*[:：]`)
	// "On Mon, 13 Nov 2023 at 10:00, Li <li@x> wrote:" and
	// "在 2023-11-15 09:00，李明 <support@example.com> 写道：".
	wroteEnd = regexp.MustCompile(`(?i)(wrote|写道|寫道)\s*[:：]$`)
	wroteEN  = regexp.MustCompile(`(?i)^on\s.+wrote\s*:$`)
	wroteZH  = regexp.MustCompile(`^(在|于|於).+(写道|寫道)\s*[:：]$`)
)

// ReplyText returns the new part of a reply: the text before the first
// separator that starts quoted history, without the lines quoted with ">".
// Separators are "On … wrote:" and "在 … 写道：" (also wrapped over up to
// three lines), "-----Original Message-----", "-----原始邮件-----" and their
// kin, forwarded-message markers, and Outlook's or Foxmail's header block
// ("From: …" followed by "Sent: …" or "Date: …"; "发件人: …" followed by
// "发送时间: …"). When nothing is left (a forward without a word of its own),
// it returns the whole text, trimmed.
func ReplyText(text string) string {
	text = normalizeNewlines(text)
	lines := strings.Split(text, "\n")
	cut := len(lines)
	for i := range lines {
		if isSeparator(lines, i) {
			cut = i
			break
		}
	}
	var keep []string
	for _, l := range lines[:cut] {
		if strings.HasPrefix(strings.TrimLeft(l, " \t"), ">") {
			continue
		}
		keep = append(keep, l)
	}
	// Trailing blank lines and Outlook's "________" rule go.
	for len(keep) > 0 && strings.Trim(keep[len(keep)-1], " \t_-\u00a0") == "" {
		keep = keep[:len(keep)-1]
	}
	for len(keep) > 0 && strings.TrimSpace(keep[0]) == "" {
		keep = keep[1:]
	}
	reply := strings.TrimRight(strings.Join(keep, "\n"), " \t\n")
	if reply == "" {
		return strings.TrimSpace(text)
	}
	return reply
}

// sepText prepares a line for the separator patterns.
func sepText(l string) string {
	return strings.TrimSpace(strings.ReplaceAll(l, "\u00a0", " "))
}

func isSeparator(lines []string, i int) bool {
	l := sepText(lines[i])
	if l == "" || len(l) > 400 || strings.HasPrefix(l, ">") {
		return false
	}
	// Cheap tests first: most lines are none of these.
	switch c := l[0]; {
	case c == '-' || c == '_' || c == '=' || strings.HasPrefix(l, "—"):
		if separatorLine.MatchString(l) {
			return true
		}
	case c == 'b' || c == 'B' || strings.HasPrefix(l, "以下"):
		if forwardedLine.MatchString(l) {
			return true
		}
	}
	colon := strings.HasSuffix(l, ":") || strings.HasSuffix(l, "：")
	attribution := len(l) > 3 && strings.EqualFold(l[:3], "on ") ||
		strings.HasPrefix(l, "在") || strings.HasPrefix(l, "于") || strings.HasPrefix(l, "於")
	// An attribution line, maybe wrapped over the next two lines.
	joined := l
	for k := 0; attribution && k < 3 && i+k < len(lines); k++ {
		if k > 0 {
			next := sepText(lines[i+k])
			if next == "" || strings.HasPrefix(next, ">") {
				break
			}
			joined += " " + next
		}
		if wroteEN.MatchString(joined) || wroteZH.MatchString(joined) {
			return true
		}
	}
	// Any "… wrote:" right before a quoted block.
	if colon && wroteEnd.MatchString(l) {
		for k := i + 1; k < len(lines) && k <= i+2; k++ {
			if n := sepText(lines[k]); n != "" {
				if strings.HasPrefix(n, ">") {
					return true
				}
				break
			}
		}
	}
	if strings.ContainsAny(l, ":：") && fromLine.MatchString(l) {
		for k := i + 1; k < len(lines) && k <= i+5; k++ {
			if sentLine.MatchString(sepText(lines[k])) {
				return true
			}
		}
	}
	return false
}

// unflow joins the soft line breaks of format=flowed text (RFC 3676): a line
// ending in a space continues on the next line of the same quote depth.
// Space-stuffing is removed; with delsp=yes the trailing space goes too.
func unflow(s string, delsp bool) string {
	var out []string
	var cur strings.Builder
	curDepth, open := 0, false
	// emit ends the current line; cut is set for a flowed paragraph cut
	// short, whose last soft break goes.
	emit := func(cut bool) {
		line := cur.String()
		if cut {
			line = strings.TrimRight(line, " ")
		}
		if curDepth > 0 {
			line = strings.Repeat(">", curDepth) + " " + line
			line = strings.TrimRight(line, " ")
		}
		out = append(out, line)
		cur.Reset()
		open = false
	}
	for _, l := range strings.Split(s, "\n") {
		depth := len(l) - len(strings.TrimLeft(l, ">"))
		content := strings.TrimPrefix(l[depth:], " ")
		if open && depth != curDepth {
			emit(true)
		}
		curDepth = depth
		flowed := strings.HasSuffix(content, " ") && content != "-- "
		if flowed && delsp {
			content = content[:len(content)-1]
		}
		cur.WriteString(content)
		if flowed {
			open = true
			continue
		}
		emit(false)
	}
	if open {
		emit(true)
	}
	return strings.Join(out, "\n")
}
