package qr

import (
	"strings"
	"testing"

	"switchboard/connectors/qr/codes"
)

func testCode() codes.Code {
	return codes.Code{Code: "0123456789ab", Asset: codes.Asset{Name: "3号电梯", Serial: "EL-2231", Category: "elevator", Site: "浦东仓库"},
		Team: "support", Fields: []codes.Field{
			{Key: "floor", Label: codes.Label{ZH: "楼层", EN: "Floor"}, Type: codes.TypeSelect, Options: []string{"1F", "2F"}, Required: true},
			{Key: "room", Label: codes.Label{EN: "Room"}, Type: codes.TypeText},
		}}
}

func TestValidateForm(t *testing.T) {
	ok := func(edit map[string]string) map[string]string {
		v := map[string]string{"description": "电梯停在 2 楼不动", "floor": "2F"}
		for k, x := range edit {
			v[k] = x
		}
		return v
	}
	cases := []struct {
		name   string
		values map[string]string
		bad    map[string]string // input → problem key; nil: valid
		check  func(t *testing.T, s submission)
	}{
		{name: "minimal", values: ok(nil), check: func(t *testing.T, s submission) {
			if s.Description != "电梯停在 2 楼不动" || len(s.Answers) != 1 || s.Answers[0].Value != "2F" || s.Phone != "" || s.Email != "" {
				t.Errorf("submission %+v", s)
			}
		}},
		{name: "phone normalized", values: ok(map[string]string{"phone": " 138 0013 8000 "}), check: func(t *testing.T, s submission) {
			if s.Phone != "+8613800138000" {
				t.Errorf("phone %q, want +8613800138000", s.Phone)
			}
		}},
		{name: "phone with country code", values: ok(map[string]string{"phone": "+44 20 7946 0958"}), check: func(t *testing.T, s submission) {
			if s.Phone != "+442079460958" {
				t.Errorf("phone %q", s.Phone)
			}
		}},
		{name: "email lower-cased", values: ok(map[string]string{"email": "Li.Ming@Example.COM"}), check: func(t *testing.T, s submission) {
			if s.Email != "li.ming@example.com" {
				t.Errorf("email %q", s.Email)
			}
		}},
		{name: "crlf and trim", values: ok(map[string]string{"description": "  a\r\nb\t c  ", "room": " 301 "}), check: func(t *testing.T, s submission) {
			if s.Description != "a\nb\t c" || len(s.Answers) != 2 || s.Answers[1].Value != "301" {
				t.Errorf("submission %+v", s)
			}
		}},
		{name: "no description", values: ok(map[string]string{"description": " \n "}), bad: map[string]string{"description": "err_description"}},
		{name: "long description", values: ok(map[string]string{"description": strings.Repeat("坏", maxDescription+1)}),
			bad: map[string]string{"description": "err_description_long"}},
		{name: "control characters", values: ok(map[string]string{"description": "a\x07b"}), bad: map[string]string{"description": "err_text"}},
		{name: "not utf-8", values: ok(map[string]string{"room": "\xff"}), bad: map[string]string{"room": "err_text"}},
		{name: "bad phone", values: ok(map[string]string{"phone": "12345"}), bad: map[string]string{"phone": "err_phone"}},
		{name: "phone of letters", values: ok(map[string]string{"phone": "call me"}), bad: map[string]string{"phone": "err_phone"}},
		{name: "bad email", values: ok(map[string]string{"email": "li@"}), bad: map[string]string{"email": "err_email"}},
		{name: "email with name", values: ok(map[string]string{"email": "Li <li@example.com>"}), bad: map[string]string{"email": "err_email"}},
		{name: "two emails", values: ok(map[string]string{"email": "a@example.com,b@example.com"}), bad: map[string]string{"email": "err_email"}},
		{name: "long name", values: ok(map[string]string{"name": strings.Repeat("李", maxName+1)}), bad: map[string]string{"name": "err_name"}},
		{name: "required field missing", values: ok(map[string]string{"floor": ""}), bad: map[string]string{"floor": "err_required"}},
		{name: "not an option", values: ok(map[string]string{"floor": "9F"}), bad: map[string]string{"floor": "err_option"}},
		{name: "long answer", values: ok(map[string]string{"room": strings.Repeat("x", maxAnswer+1)}), bad: map[string]string{"room": "err_long"}},
		{name: "several at once", values: ok(map[string]string{"description": "", "email": "x"}),
			bad: map[string]string{"description": "err_description", "email": "err_email"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, bad := validateForm(testCode(), tc.values, "CN")
			if len(bad) != len(tc.bad) {
				t.Fatalf("problems %v, want %v", bad, tc.bad)
			}
			for k, want := range tc.bad {
				if bad[k].key != want {
					t.Errorf("problem of %s = %q, want %q", k, bad[k].key, want)
				}
			}
			if tc.check != nil {
				tc.check(t, s)
			}
		})
	}
}

// A submission's customer is always its own handle: the phone and e-mail
// typed into the form are unverified, so they are fields for agents to
// see and link, never identities that would file the report under
// whoever owns them.
func TestFormMessage(t *testing.T) {
	c := testCode()
	sid := "AAAAAAAAAAAAAAAAAAAAAA"
	sub := submission{Description: "坏了", Name: "王先生", Answers: []answer{{Key: "floor", Value: "2F"}}}
	cases := []struct {
		name         string
		phone, email string
	}{
		{"phone and e-mail", "+8613800138000", "li@example.com"},
		{"e-mail", "", "li@example.com"},
		{"phone", "+8613800138000", ""},
		{"neither", "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := sub
			s.Phone, s.Email = tc.phone, tc.email
			m := formMessage(c, s, sid, nil, "zh")
			if m.From.Type != "visitor" || m.From.Value != "qr_"+sid || m.From.Name != "王先生" {
				t.Errorf("from %+v, want the submission's handle visitor:qr_%s named 王先生", m.From, sid)
			}
			want := map[string]string{"qr_code": c.Code, "asset": "elevator", "asset_name": "3号电梯", "asset_serial": "EL-2231",
				"asset_site": "浦东仓库", "team": "support", "field.floor": "2F", "lang": "zh"}
			if tc.phone != "" {
				want["contact_phone"] = tc.phone
			}
			if tc.email != "" {
				want["contact_email"] = tc.email
			}
			for k, v := range want {
				if m.Fields[k] != v {
					t.Errorf("field %s = %q, want %q", k, m.Fields[k], v)
				}
			}
			for _, k := range []string{"contact_phone", "contact_email"} {
				if _, ok := want[k]; !ok && m.Fields[k] != "" {
					t.Errorf("field %s = %q, want none", k, m.Fields[k])
				}
			}
			if m.Account != c.Code || m.ExternalID != "form:"+sid || m.Thread.Key != "q"+sid || m.Kind != "form" || m.Text != "坏了" {
				t.Errorf("message %+v", m)
			}
		})
	}
}
