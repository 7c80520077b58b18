package mailparse

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name, header string
		kind         Kind
		reason       string
	}{
		{"plain human", "From: a@x.example\nSubject: hello", Human, ""},
		{"X-Auto-Response-Suppress alone is a request, not a robot", "From: a@x.example\nX-Auto-Response-Suppress: All", Human, ""},
		{"Auto-Submitted: no", "From: a@x.example\nAuto-Submitted: no", Human, ""},
		{"Auto-Submitted: auto-generated with a comment", "From: a@x.example\nAuto-Submitted: auto-generated (warning-timeout)", AutoReply, "Auto-Submitted: auto-generated"},
		{"Auto-Submitted: auto-replied with parameters", "From: a@x.example\nAuto-Submitted: Auto-Replied; owner-email=a@x.example", AutoReply, "Auto-Submitted: auto-replied"},
		{"Auto-Submitted: auto-notified (RFC 5436)", "From: a@x.example\nAuto-Submitted: auto-notified", AutoReply, "Auto-Submitted: auto-notified"},
		{"X-Autoreply", "From: a@x.example\nX-Autoreply: yes", AutoReply, "X-Autoreply: yes"},
		{"X-Autorespond", "From: a@x.example\nX-Autorespond: Vacation", AutoReply, "X-Autorespond: Vacation"},
		{"X-Autoreply: no", "From: a@x.example\nX-Autoreply: no", Human, ""},
		{"Exchange out of office", "From: a@x.example\nX-MS-Exchange-Inbox-Rules-Loop: a@x.example\nX-Auto-Response-Suppress: All", AutoReply, "X-MS-Exchange-Inbox-Rules-Loop with X-Auto-Response-Suppress (Exchange out of office)"},
		{"Exchange rules loop alone (a forwarding rule)", "From: a@x.example\nX-MS-Exchange-Inbox-Rules-Loop: a@x.example", Human, ""},
		{"Automatic reply subject", "From: a@x.example\nSubject: Automatic reply: Re: [#10042] x", AutoReply, "Subject: Automatic reply:"},
		{"Outlook English OOF subject", "From: a@x.example\nSubject: Out of Office AutoReply: x", AutoReply, "Subject: Out of Office AutoReply"},
		{"Chinese auto-reply subject, full-width colon", "From: a@x.example\nSubject: =?utf-8?B?6Ieq5Yqo5Zue5aSN77ya5L2g5aW9?=", AutoReply, "Subject: 自动回复："},
		{"vacation reply subject", "From: a@x.example\nSubject: Vacation reply: x", AutoReply, "Subject: Vacation reply:"},
		{"a customer writing about office hours", "From: a@x.example\nSubject: Re: out of office hours?", Human, ""},
		{"a customer writing about a vacation", "From: a@x.example\nSubject: Vacation: booking question", Human, ""},
		{"null Return-Path alone", "Return-Path: <>\nFrom: a@x.example", AutoReply, "Return-Path: <>"},
		{"Precedence: bulk", "From: a@x.example\nPrecedence: bulk", Bulk, "Precedence: bulk"},
		{"Precedence: junk", "From: a@x.example\nPrecedence: Junk", Bulk, "Precedence: junk"},
		{"Precedence: first-class", "From: a@x.example\nPrecedence: first-class", Human, ""},
		{"List-Unsubscribe alone", "From: a@x.example\nList-Unsubscribe: <mailto:u@x.example>", Bulk, "List-Unsubscribe"},
		{"X-Mailing-List", "From: a@x.example\nX-Mailing-List: <l@x.example>", Bulk, "X-Mailing-List"},
		{"auto-reply wins over bulk", "From: a@x.example\nPrecedence: bulk\nAuto-Submitted: auto-replied", AutoReply, "Auto-Submitted: auto-replied"},
		{"MAILER-DAEMON", "From: Mailer-Daemon@mx.example", Bounce, "From: MAILER-DAEMON"},
		{"postmaster with a null Return-Path", "Return-Path: <>\nFrom: postmaster@mx.example", Bounce, "From: postmaster"},
		{"postmaster writing as a person", "From: postmaster@mx.example", Human, ""},
		{"X-Failed-Recipients", "From: a@x.example\nX-Failed-Recipients: b@y.example", Bounce, "X-Failed-Recipients"},
		{"read receipt", "From: a@x.example\nContent-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n--b\n\nread\n--b\nContent-Type: message/disposition-notification\n\nDisposition: manual-action/MDN-sent-manually; displayed\n--b--",
			AutoReply, "disposition-notification"},
		{"bounce wins over auto-reply", "From: MAILER-DAEMON@mx.example\nAuto-Submitted: auto-replied", Bounce, "From: MAILER-DAEMON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := tt.header
			if !strings.Contains(raw, "\n\n") {
				raw += "\n\nbody"
			}
			c := Classify(mustParse(t, []byte(raw)))
			if c.Kind != tt.kind {
				t.Errorf("Kind = %s (%q), want %s", c.Kind, c.Reason, tt.kind)
			}
			if c.Reason != tt.reason && (tt.reason == "" || !strings.Contains(c.Reason, tt.reason)) {
				t.Errorf("Reason = %q, want %q", c.Reason, tt.reason)
			}
			if (c.Kind == Bounce) != (c.Bounce != nil) {
				t.Errorf("Bounce = %+v for kind %s", c.Bounce, c.Kind)
			}
		})
	}
	if c := Classify(nil); c.Kind != Human {
		t.Errorf("Classify(nil) = %+v", c)
	}
}
