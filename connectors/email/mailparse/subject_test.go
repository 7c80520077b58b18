package mailparse

import "testing"

func TestSubjectToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Re: [#10042] Order", "10042"},
		{"Order [#10042]", "10042"},
		{"[ # 10042 ]", "10042"},
		{"【#10042】咨询", "10042"},
		{"［＃１００４２］ full width", "10042"},
		{"〔#123456789〕", "123456789"},
		{"[#1001] shared fixtures", "1001"},
		{"[#010042] leading zero", "10042"},
		{"[#0000123]", ""},
		{"[#1234567890] ten digits", ""},
		{"[#123] three digits", ""},
		{"[#10042 unclosed", ""},
		{"#10042 no brackets", ""},
		{"[Ticket#10042]", ""},
		{"[#10x42]", ""},
		{"x [#10001] y [#10002]", "10001"},
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := SubjectToken(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("SubjectToken(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestNormalizeSubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Re: Re: hi", "hi"},
		{"RE:FW: Fwd: hi", "hi"},
		{"fw: re: hi", "hi"},
		{"回复：答复: 转发：hi", "hi"},
		{"回覆: 轉寄：hi", "hi"},
		{"Re[2]: hi", "hi"},
		{"Re (3): hi", "hi"},
		{"AW: WG: hi", "hi"},
		{"Re：\u3000hi", "hi"},
		{"  Re:   [#10042]   hi  ", "[#10042] hi"},
		{"Re:", ""},
		{"Reply needed", "Reply needed"},
		{"Research: x", "Research: x"},
		{"Fwd hi", "Fwd hi"},
		{"hi Re: there", "hi Re: there"},
	}
	for _, tt := range tests {
		if got := NormalizeSubject(tt.in); got != tt.want {
			t.Errorf("NormalizeSubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
