package telephony

import (
	"net/url"
	"testing"
	"unicode/utf8"

	"switchboard/connectors"
)

// FuzzWebhookBody feeds arbitrary bodies and content types to the
// webhook's parser: it never panics, and whatever it accepts is an event
// the router can take (a known type, a direction, a call id, bounded
// printable fields).
func FuzzWebhookBody(f *testing.F) {
	for _, s := range []struct{ ct, body string }{
		{jsonCT, `{"event":"newCall","from":"493023125741","to":"492214710334","direction":"in","callId":"307fa962","user":["Christopher Miller","Emma Taylor"]}`},
		{jsonCT, `{"event":"hangup","from":1,"to":2,"direction":"out","call_id":3,"cause":"normalClearing","answeringNumber":"8001"}`},
		{formCT, "event=answer&from=13800138000&to=4008001234&direction=in&callId=f-1&user%5B%5D=8001&user=8002"},
		{"multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"event\"\r\n\r\nnewCall\r\n--x--\r\n"},
		{"", `{"event":"newCall"}`},
		{"text/plain", "event=newCall"},
		{jsonCT, `{"user":[null,{"a":1}],"event":"newCall"}`},
	} {
		f.Add(s.ct, []byte(s.body))
	}
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		vals, err := parseBody(ct, body)
		if err != nil {
			if _, ok := err.(*refusal); !ok {
				t.Fatalf("parseBody error %T %v is no refusal", err, err)
			}
			return
		}
		ev, err := readEvent(vals, url.Values{})
		if err != nil {
			if _, ok := err.(*refusal); !ok {
				t.Fatalf("readEvent error %T %v is no refusal", err, err)
			}
			return
		}
		switch ev.Type {
		case connectors.CallNew, connectors.CallAnswer, connectors.CallHangup:
		default:
			t.Fatalf("accepted event type %q", ev.Type)
		}
		if ev.Direction != "in" && ev.Direction != "out" {
			t.Fatalf("accepted direction %q", ev.Direction)
		}
		if ev.CallID == "" || len(ev.Users) > maxUsers {
			t.Fatalf("accepted call id %q with %d users", ev.CallID, len(ev.Users))
		}
		for _, s := range append([]string{ev.CallID, ev.From, ev.To, ev.AnsweredBy, ev.Queue, ev.Cause}, ev.Users...) {
			if len(s) > maxField || !utf8.ValidString(s) {
				t.Fatalf("accepted field %q", s)
			}
		}
	})
}
