package router

import (
	"slices"
	"testing"

	"github.com/nyaruka/phonenumbers"
)

func TestRegionOfPhone(t *testing.T) {
	tests := []struct{ e164, want string }{
		// Municipalities.
		{"+861065529988", "CN-BJ"}, {"+862261234567", "CN-TJ"}, {"+862161234567", "CN-SH"}, {"+862361234567", "CN-CQ"},
		// Guangdong: capital and large cities.
		{"+862061234567", "CN-GD"}, {"+8675588886666", "CN-GD"}, {"+8675781234567", "CN-GD"},
		{"+8676922345678", "CN-GD"}, {"+867563234567", "CN-GD"},
		// Other provinces' capitals and large cities.
		{"+8657188886666", "CN-ZJ"}, {"+8657487654321", "CN-ZJ"}, {"+8657788886666", "CN-ZJ"},
		{"+862584567890", "CN-JS"}, {"+8651267890123", "CN-JS"}, {"+8651085123456", "CN-JS"},
		{"+862885123456", "CN-SC"}, {"+862785123456", "CN-HB"}, {"+862988123456", "CN-SN"},
		{"+862423456789", "CN-LN"}, {"+8641184123456", "CN-LN"}, {"+8643185123456", "CN-JL"},
		{"+8645186123456", "CN-HL"}, {"+8631186123456", "CN-HE"}, {"+863514123456", "CN-SX"},
		{"+864716123456", "CN-NM"}, {"+8653186123456", "CN-SD"}, {"+8653286123456", "CN-SD"},
		{"+8637165123456", "CN-HA"}, {"+8673184123456", "CN-HN"}, {"+8679186123456", "CN-JX"},
		{"+8655165123456", "CN-AH"}, {"+8659187123456", "CN-FJ"}, {"+865925123456", "CN-FJ"},
		{"+8689866123456", "CN-HI"}, {"+867715123456", "CN-GX"}, {"+8685186123456", "CN-GZ"},
		{"+8687165123456", "CN-YN"}, {"+868916123456", "CN-XZ"}, {"+869315123456", "CN-GS"},
		{"+869716123456", "CN-QH"}, {"+869516123456", "CN-NX"}, {"+869915123456", "CN-XJ"},
		// Not landlines: the country only.
		{"+8613800138000", "CN"}, {"+8619912345678", "CN"}, {"+864008001234", "CN"}, {"+868008101234", "CN"},
		// Other countries and regions.
		{"+85291234567", "HK"}, {"+85388123456", "MO"}, {"+886223123456", "TW"}, {"+16502530000", "US"},
		{"+4930123456", "DE"},
		// Not numbers.
		{"", ""}, {"+86", ""}, {"+861012", ""}, {"13800138000", ""}, {"021-61234567", ""},
		{"+80012345678", ""}, {"+86 10 6552 9988 " + string(make([]byte, 40)), ""},
	}
	for _, tc := range tests {
		if got := RegionOfPhone(tc.e164); got != tc.want {
			t.Errorf("RegionOfPhone(%q) = %q, want %q", tc.e164, got, tc.want)
		}
	}
}

func FuzzRegionOfPhone(f *testing.F) {
	for _, s := range []string{"+861065529988", "+8675588886666", "+8613800138000", "+85291234567", "+86", "+86 (21) 6123-4567", "+800 1234 5678"} {
		f.Add(s)
	}
	codes := make([]string, 0, len(provinces))
	for _, p := range provinces {
		codes = append(codes, p.code)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := RegionOfPhone(s)
		switch {
		case got == "":
			return
		case len(got) == 2:
			if got[0] < 'A' || got[0] > 'Z' || got[1] < 'A' || got[1] > 'Z' {
				t.Fatalf("RegionOfPhone(%q) = %q, not a country code", s, got)
			}
		case !slices.Contains(codes, got):
			t.Fatalf("RegionOfPhone(%q) = %q, not a province code", s, got)
		}
		// Whatever the spelling, the number's canonical form has the same
		// region.
		n, err := phonenumbers.Parse(s, "")
		if err != nil {
			t.Fatalf("RegionOfPhone(%q) = %q for what does not parse: %v", s, got, err)
		}
		if e164 := phonenumbers.Format(n, phonenumbers.E164); RegionOfPhone(e164) != got {
			t.Fatalf("RegionOfPhone(%q) = %q, but %q for its E.164 %s", s, got, RegionOfPhone(e164), e164)
		}
	})
}
