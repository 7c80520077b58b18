package telephony

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"switchboard/connectors"
)

// Limits on one webhook request.
const (
	maxBody  = 64 << 10 // bytes
	maxParts = 64       // fields of a multipart body
	maxUsers = 32
	maxField = 128 // bytes of one field
)

// refusal is a webhook request refused, with the status and the message
// the PBX gets ({"error": msg}).
type refusal struct {
	status int
	msg    string
}

func (r *refusal) Error() string { return r.msg }

func refuse(status int, format string, args ...any) *refusal {
	return &refusal{status: status, msg: fmt.Sprintf(format, args...)}
}

// The fields of Zammad's generic CTI API that Switchboard reads; others
// (user_id, caller, …) are ignored.
var knownFields = []string{"event", "from", "to", "direction", "callId", "call_id", "user", "user[]",
	"answeringNumber", "queue", "cause"}

// parseBody reads a webhook body into form values: a JSON object (a user
// may be a string or an array), application/x-www-form-urlencoded or
// multipart/form-data (user repeated, or user[]). Without a Content-Type
// a body that starts with "{" is JSON, any other a form. An empty body
// has no values (they may all be in the query).
func parseBody(contentType string, body []byte) (url.Values, error) {
	if len(body) > maxBody {
		return nil, refuse(http.StatusRequestEntityTooLarge, "Request body is larger than %d bytes", maxBody)
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return url.Values{}, nil
	}
	mt, params, err := mime.ParseMediaType(contentType)
	switch {
	case contentType == "":
		if bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
			return parseJSON(body)
		}
		return parseForm(body)
	case err != nil:
		return nil, refuse(http.StatusUnsupportedMediaType, "Malformed Content-Type; send JSON or form data")
	case mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json"):
		return parseJSON(body)
	case mt == "application/x-www-form-urlencoded":
		return parseForm(body)
	case mt == "multipart/form-data":
		return parseMultipart(body, params["boundary"])
	}
	return nil, refuse(http.StatusUnsupportedMediaType, "Unsupported Content-Type %q; send JSON or form data", clip(mt))
}

func parseForm(body []byte) (url.Values, error) {
	vals, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, refuse(http.StatusBadRequest, "Malformed form body")
	}
	return vals, nil
}

func parseMultipart(body []byte, boundary string) (url.Values, error) {
	if boundary == "" {
		return nil, refuse(http.StatusBadRequest, "Multipart body without a boundary")
	}
	vals := url.Values{}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	for n := 0; ; n++ {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			return vals, nil
		}
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "Malformed multipart body")
		}
		if n >= maxParts {
			return nil, refuse(http.StatusBadRequest, "More than %d fields", maxParts)
		}
		name := p.FormName()
		if name == "" || p.FileName() != "" {
			continue // not a form field, or a file: nothing Switchboard reads
		}
		v, err := io.ReadAll(io.LimitReader(p, maxBody))
		if err != nil {
			return nil, refuse(http.StatusBadRequest, "Malformed multipart body")
		}
		vals.Add(name, string(v))
	}
}

func parseJSON(body []byte) (url.Values, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil || obj == nil {
		return nil, refuse(http.StatusBadRequest, "Malformed JSON: the body must be one object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, refuse(http.StatusBadRequest, "Malformed JSON: more than one value")
	}
	vals := url.Values{}
	for _, k := range knownFields {
		v, ok := obj[k]
		if !ok || v == nil {
			continue
		}
		list, isList := v.([]any)
		if !isList {
			list = []any{v}
		} else if k != "user" && k != "user[]" {
			return nil, refuse(http.StatusBadRequest, "%s must be a string, not a list", k)
		}
		for _, x := range list {
			switch x := x.(type) {
			case string:
				vals.Add(k, x)
			case json.Number:
				vals.Add(k, x.String())
			case nil:
			default:
				return nil, refuse(http.StatusBadRequest, "%s must be a string", k)
			}
		}
	}
	return vals, nil
}

// readEvent turns the values of a request into a call event, checked as
// Zammad checks it: a direction that is not in or out is 422 "Invalid
// direction!". body holds the body's values; query fills in what the
// body lacks (a PBX may send every field in the URL).
func readEvent(body, query url.Values) (connectors.CallEvent, error) {
	for _, k := range knownFields {
		if _, ok := body[k]; !ok && len(query[k]) > 0 {
			body[k] = query[k]
		}
	}
	get := func(keys ...string) string {
		for _, k := range keys {
			if v := body[k]; len(v) > 0 && strings.TrimSpace(v[0]) != "" {
				return strings.TrimSpace(v[0])
			}
		}
		return ""
	}
	ev := connectors.CallEvent{From: get("from"), To: get("to"), Direction: get("direction"), CallID: get("callId", "call_id"),
		AnsweredBy: get("answeringNumber"), Queue: get("queue"), Cause: get("cause")}
	if ev.Direction != connectors.CallInbound && ev.Direction != connectors.CallOutbound {
		return ev, refuse(http.StatusUnprocessableEntity, "Invalid direction!")
	}
	switch e := get("event"); strings.ToLower(e) {
	case "":
		return ev, refuse(http.StatusBadRequest, "event is required (newCall, answer or hangup)")
	case "newcall":
		ev.Type = connectors.CallNew
	case "answer":
		ev.Type = connectors.CallAnswer
	case "hangup":
		ev.Type = connectors.CallHangup
	default:
		return ev, refuse(http.StatusUnprocessableEntity, "Unknown event %q; expected newCall, answer or hangup", clip(e))
	}
	if ev.CallID == "" {
		return ev, refuse(http.StatusBadRequest, "callId is required")
	}
	for _, f := range []struct{ key, v string }{{"callId", ev.CallID}, {"from", ev.From}, {"to", ev.To},
		{"answeringNumber", ev.AnsweredBy}, {"queue", ev.Queue}, {"cause", ev.Cause}} {
		if !validField(f.v) {
			return ev, refuse(http.StatusBadRequest, "%s must be at most %d bytes of text without control characters", f.key, maxField)
		}
	}
	for _, u := range append(body["user"], body["user[]"]...) {
		u = strings.TrimSpace(u)
		if u == "" {
			continue
		}
		if !validField(u) {
			return ev, refuse(http.StatusBadRequest, "user must be at most %d bytes of text without control characters", maxField)
		}
		ev.Users = append(ev.Users, u)
	}
	if len(ev.Users) > maxUsers {
		return ev, refuse(http.StatusBadRequest, "at most %d users", maxUsers)
	}
	// Zammad's answer names who answered in user when there is no
	// answeringNumber.
	if ev.Type == connectors.CallAnswer && ev.AnsweredBy == "" && len(ev.Users) == 1 {
		ev.AnsweredBy = ev.Users[0]
	}
	return ev, nil
}

func validField(s string) bool {
	return len(s) <= maxField && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl)
}

// clip shortens what a caller sent for an error message.
func clip(s string) string {
	if len(s) <= 32 {
		return s
	}
	n := 32
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
