package phone

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	tests := []struct {
		raw, region string
		e164        string
		kind        Kind
		ext         string
	}{
		{"13800138000", "CN", "+8613800138000", Mobile, ""},
		{"+86 138 0013 8000", "CN", "+8613800138000", Mobile, ""},
		{"008613800138000", "CN", "+8613800138000", Mobile, ""},
		{"8613800138000", "CN", "+8613800138000", Mobile, ""},
		{"+86-138-0013-8000", "", "+8613800138000", Mobile, ""},
		{"013800138000", "CN", "+8613800138000", Mobile, ""}, // trunk 0 before a mobile
		{"tel:+8613800138000", "CN", "+8613800138000", Mobile, ""},
		{"010-65529988", "CN", "+861065529988", FixedLine, ""},
		{"(010)6552 9988", "CN", "+861065529988", FixedLine, ""},
		{"01065529988", "CN", "+861065529988", FixedLine, ""},
		{"0086 10 6552 9988", "CN", "+861065529988", FixedLine, ""},
		{"0755-8888 6666 ext. 123", "CN", "+8675588886666", FixedLine, "123"},
		{"021-61234567转8001", "CN", "+862161234567", FixedLine, "8001"},
		{"021-61234567 分机 8001", "CN", "+862161234567", FixedLine, "8001"},
		{"075588886666#123", "CN", "+8675588886666", FixedLine, "123"},
		{"4008001234", "CN", "+864008001234", Shared, ""},
		{"400-800-1234", "CN", "+864008001234", Shared, ""},
		{"8008101234", "CN", "+868008101234", TollFree, ""},
		{"+1 650 253 0000", "CN", "+16502530000", FixedLine, ""},
		{"(650) 253-0000", "us", "+16502530000", FixedLine, ""},
		{"+852 9123 4567", "CN", "+85291234567", Mobile, ""},
	}
	for _, tt := range tests {
		n, err := Parse(tt.raw, tt.region)
		if err != nil {
			t.Errorf("Parse(%q, %q): %v", tt.raw, tt.region, err)
			continue
		}
		if n.E164 != tt.e164 || n.Kind != tt.kind || n.Extension != tt.ext {
			t.Errorf("Parse(%q, %q) = %+v, want %s %s ext %q", tt.raw, tt.region, n, tt.e164, tt.kind, tt.ext)
		}
		if Normalize(tt.raw, tt.region) != tt.e164 {
			t.Errorf("Normalize(%q) = %q, want %q", tt.raw, Normalize(tt.raw, tt.region), tt.e164)
		}
	}
}

func TestParseInvalid(t *testing.T) {
	for _, raw := range []string{
		"", "   ", "<unknown>", "anonymous", "8001", // an internal extension
		"95555", "10086", "12345", // short service numbers
		"1380013800", // a digit short
		"+86", strings.Repeat("1", 100), "一三八〇〇一三八〇〇〇",
	} {
		if n, err := Parse(raw, "CN"); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrInvalid", raw, n, err)
		}
		if got := Normalize(raw, "CN"); got != "" {
			t.Errorf("Normalize(%q) = %q, want empty", raw, got)
		}
	}
}

func TestNational(t *testing.T) {
	for raw, want := range map[string]string{
		"+8613800138000": "13800138000",
		"+861065529988":  "01065529988",
		"+864008001234":  "4008001234",
	} {
		n, err := Parse(raw, "CN")
		if err != nil {
			t.Fatal(err)
		}
		if got := n.National(); got != want {
			t.Errorf("National(%s) = %q, want %q", raw, got, want)
		}
	}
}

// FuzzParse: caller ids come from PBXs and web forms. Parse never panics,
// an accepted number is canonical (parsing its E.164 form gives itself),
// and errors stay short and valid UTF-8 however long the input.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"13800138000", "+86 10 6552 9988 转 8001", "013800138000", "4008001234", "<unknown>", "#", "转"} {
		f.Add(s, "CN")
	}
	f.Add("(650) 253-0000", "US")
	f.Fuzz(func(t *testing.T, raw, region string) {
		n, err := Parse(raw, region)
		if err != nil {
			if len(err.Error()) > 4*maxInput+64 || (utf8.ValidString(raw) && !utf8.ValidString(err.Error())) {
				t.Fatalf("error %q", err)
			}
			return
		}
		again, err := Parse(n.E164, "CN")
		if err != nil || again.E164 != n.E164 {
			t.Fatalf("%q → %s, reparsed %+v %v", raw, n.E164, again, err)
		}
	})
}
