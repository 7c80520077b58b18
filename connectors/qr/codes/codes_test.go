package codes

import (
	"errors"
	"strings"
	"testing"
)

func valid() Code {
	return Code{Asset: Asset{Name: " 3号电梯 ", Serial: "EL-2231", Category: "elevator", Site: "浦东仓库"}, Team: "support",
		Fields: []Field{
			{Key: "floor", Label: Label{ZH: "楼层", EN: "Floor"}, Type: TypeSelect, Options: []string{"1F", "2F"}, Required: true},
			{Key: "room", Label: Label{EN: "Room"}, Type: TypeText},
		}}
}

func TestValidate(t *testing.T) {
	cases := []struct {
		name string
		edit func(*Code)
		want []string // problems, each a prefix; none means valid
	}{
		{"valid", func(*Code) {}, nil},
		{"no fields", func(c *Code) { c.Fields = nil }, nil},
		{"no name", func(c *Code) { c.Asset.Name = "  " }, []string{"asset.name: is required"}},
		{"long name", func(c *Code) { c.Asset.Name = strings.Repeat("电", 101) }, []string{"asset.name: is longer than 100"}},
		{"control in site", func(c *Code) { c.Asset.Site = "a\x00b" }, []string{"asset.site: has control characters"}},
		{"bad utf-8 serial", func(c *Code) { c.Asset.Serial = "\xff" }, []string{"asset.serial: is not UTF-8"}},
		{"long address", func(c *Code) { c.Asset.Address = strings.Repeat("x", 201) }, []string{"asset.address: is longer than 200"}},
		{"category with space", func(c *Code) { c.Asset.Category = "lift car" }, []string{"asset.category: must be an identifier"}},
		{"category path", func(c *Code) { c.Asset.Category = "printer/laser" }, nil},
		{"team with brace", func(c *Code) { c.Team = "{x}" }, []string{"team: "}},
		{"wechat account with space", func(c *Code) { c.WeChatOA = "a b" }, []string{"wechat_oa: "}},
		{"too many fields", func(c *Code) {
			for i := 0; i < MaxFields; i++ {
				c.Fields = append(c.Fields, Field{Key: "k" + string(rune('a'+i)), Label: Label{ZH: "x"}, Type: TypeText})
			}
		}, []string{"fields: at most 10"}},
		{"bad key", func(c *Code) { c.Fields[1].Key = "Room No" }, []string{"fields[1].key: "}},
		{"reserved key", func(c *Code) { c.Fields[1].Key = "phone" }, []string{"fields[1].key: \"phone\" is the name"}},
		{"duplicate key", func(c *Code) { c.Fields[1].Key = "floor" }, []string{"fields[1].key: \"floor\" is used twice"}},
		{"no label", func(c *Code) { c.Fields[0].Label = Label{} }, []string{"fields[0].label: needs zh or en"}},
		{"long label", func(c *Code) { c.Fields[0].Label.EN = strings.Repeat("x", 61) }, []string{"fields[0].label.en: is longer than 60"}},
		{"bad type", func(c *Code) { c.Fields[1].Type = "number" }, []string{"fields[1].type: \"number\" is not text or select"}},
		{"select without options", func(c *Code) { c.Fields[0].Options = nil }, []string{"fields[0].options: a select needs 1–30"}},
		{"text with options", func(c *Code) { c.Fields[1].Options = []string{"a"} }, []string{"fields[1].options: only a select"}},
		{"empty option", func(c *Code) { c.Fields[0].Options[1] = " " }, []string{"fields[0].options[1]: is required"}},
		{"duplicate option", func(c *Code) { c.Fields[0].Options[1] = "1F" }, []string{"fields[0].options[1]: \"1F\" is listed twice"}},
		{"two problems", func(c *Code) { c.Asset.Name = ""; c.Fields[1].Type = "" },
			[]string{"asset.name: is required", "fields[1].type: "}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.edit(&c)
			err := Validate(&c)
			var ve *ValidationError
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v, want nil", err)
				}
				return
			}
			if !errors.As(err, &ve) {
				t.Fatalf("Validate: %v, want a *ValidationError", err)
			}
			if len(ve.Problems) != len(tc.want) {
				t.Fatalf("problems %q, want %d starting %q", ve.Problems, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(ve.Problems[i], w) {
					t.Errorf("problem %d = %q, want it to start %q", i, ve.Problems[i], w)
				}
			}
		})
	}
}

func TestValidateTrims(t *testing.T) {
	c := valid()
	if err := Validate(&c); err != nil {
		t.Fatal(err)
	}
	if c.Asset.Name != "3号电梯" {
		t.Errorf("name %q, want it trimmed", c.Asset.Name)
	}
	c.Fields = nil
	if err := Validate(&c); err != nil || c.Fields == nil {
		t.Errorf("nil fields: %v, %#v; want an empty list", err, c.Fields)
	}
}

// Codes are 12 characters of the alphabet, random, never sequential.
func TestNewCodes(t *testing.T) {
	seen := map[string]bool{}
	for range 2000 {
		c := New()
		if !Valid(c) {
			t.Fatalf("New() = %q is not Valid", c)
		}
		if seen[c] {
			t.Fatalf("New() repeated %q", c)
		}
		seen[c] = true
	}
	// Every character of the alphabet turns up in 2,000 codes, so the
	// codes use all of it.
	all := strings.Join(mapKeys(seen), "")
	for _, r := range alphabet {
		if !strings.ContainsRune(all, r) {
			t.Errorf("alphabet character %q never used", r)
		}
	}
	for _, s := range []string{"", "0123456789a", "0123456789abc", "0123456789ai", "0123456789AB", "0123456789a/"} {
		if Valid(s) {
			t.Errorf("Valid(%q) = true", s)
		}
	}
}

func mapKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestLabelIn(t *testing.T) {
	cases := []struct {
		l          Label
		lang, want string
	}{
		{Label{ZH: "楼层", EN: "Floor"}, "zh", "楼层"},
		{Label{ZH: "楼层", EN: "Floor"}, "en", "Floor"},
		{Label{ZH: "楼层"}, "en", "楼层"},
		{Label{EN: "Floor"}, "zh", "Floor"},
	}
	for _, tc := range cases {
		if got := tc.l.In(tc.lang); got != tc.want {
			t.Errorf("%+v.In(%s) = %q, want %q", tc.l, tc.lang, got, tc.want)
		}
	}
}

func TestMessageFields(t *testing.T) {
	c := Code{Code: "0123456789ab", Asset: Asset{Name: "打印机", Category: "printer"}, Team: "it"}
	got := MessageFields(c)
	want := map[string]string{FieldCode: "0123456789ab", FieldAsset: "printer", FieldCategory: "printer", FieldName: "打印机", FieldTeam: "it"}
	if len(got) != len(want) {
		t.Fatalf("MessageFields = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}
