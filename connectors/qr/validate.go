package qr

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"switchboard/connectors/qr/codes"
	"switchboard/internal/phone"
)

// Limits on what a customer writes.
const (
	maxDescription = 2000 // characters
	maxAnswer      = 200
	maxName        = 40
	maxEmail       = 254
	maxPhoneInput  = 40
)

// submission is a checked form.
type submission struct {
	Description string
	Phone       string // E.164, or ""
	Email       string // lower-cased, or ""
	Name        string
	Answers     []answer
}

// answer is the customer's answer to one of the code's fields.
type answer struct {
	Key   string      `json:"key"`
	Label codes.Label `json:"label"`
	Value string      `json:"value"`
}

// problem is what is wrong with one input: the wording's key and its
// argument, if any.
type problem struct {
	key string
	arg int
}

// validateForm checks a form for code. It returns the submission, or the
// problems by input name (a code's field by its key).
func validateForm(c codes.Code, values map[string]string, region string) (submission, map[string]problem) {
	bad := map[string]problem{}
	var s submission

	desc, ok := cleanText(values["description"], true)
	switch {
	case !ok:
		bad["description"] = problem{key: "err_text"}
	case desc == "":
		bad["description"] = problem{key: "err_description"}
	case utf8.RuneCountInString(desc) > maxDescription:
		bad["description"] = problem{key: "err_description_long", arg: maxDescription}
	}
	s.Description = desc

	if raw := strings.TrimSpace(values["phone"]); raw != "" {
		n, err := phone.Parse(raw, region)
		if len(raw) > maxPhoneInput || err != nil {
			bad["phone"] = problem{key: "err_phone"}
		} else {
			s.Phone = n.E164
		}
	}
	if raw := strings.TrimSpace(values["email"]); raw != "" {
		if e, ok := cleanEmail(raw); ok {
			s.Email = e
		} else {
			bad["email"] = problem{key: "err_email"}
		}
	}
	name, ok := cleanText(values["name"], false)
	switch {
	case !ok:
		bad["name"] = problem{key: "err_text"}
	case utf8.RuneCountInString(name) > maxName:
		bad["name"] = problem{key: "err_name", arg: maxName}
	}
	s.Name = name

	for _, f := range c.Fields {
		v, ok := cleanText(values[f.Key], false)
		switch {
		case !ok:
			bad[f.Key] = problem{key: "err_text"}
		case v == "" && f.Required:
			bad[f.Key] = problem{key: "err_required"}
		case v == "":
		case f.Type == codes.TypeSelect && !contains(f.Options, v):
			bad[f.Key] = problem{key: "err_option"}
		case utf8.RuneCountInString(v) > maxAnswer:
			bad[f.Key] = problem{key: "err_long", arg: maxAnswer}
		default:
			s.Answers = append(s.Answers, answer{Key: f.Key, Label: f.Label, Value: v})
		}
	}
	if len(bad) > 0 {
		return submission{}, bad
	}
	return s, nil
}

// cleanText trims s and turns CRLF into LF; ok is false for text that is
// not UTF-8 or has control characters (line breaks and tabs are kept in
// multiline text).
func cleanText(s string, multiline bool) (string, bool) {
	s = strings.TrimSpace(strings.ReplaceAll(s, "\r\n", "\n"))
	if !utf8.ValidString(s) {
		return "", false
	}
	bad := strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\t'))
	})
	return s, bad < 0
}

// cleanEmail returns a bare address, lower-cased, or false.
func cleanEmail(raw string) (string, bool) {
	if len(raw) > maxEmail || strings.ContainsAny(raw, " <>,;\"\r\n") {
		return "", false
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || a.Address != raw || a.Name != "" {
		return "", false
	}
	local, domain, ok := strings.Cut(a.Address, "@")
	if !ok || local == "" || !strings.Contains(domain, ".") || strings.HasSuffix(domain, ".") {
		return "", false
	}
	return strings.ToLower(a.Address), true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
