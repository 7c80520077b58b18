// Package phone normalizes telephone numbers to E.164 with
// libphonenumber's metadata (github.com/nyaruka/phonenumbers), with the
// habits of Chinese PBXs and callers handled first: +86 and 0086
// prefixes, landlines with a leading 0 and area code, 400/800 service
// numbers, a trunk 0 before a mobile number, and extensions written
// "转 8001" or "分机 8001".
package phone

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// Kind is what sort of line a number is.
type Kind string

// Kinds of number worth telling agents apart.
const (
	Mobile    Kind = "mobile"
	FixedLine Kind = "fixed_line"
	TollFree  Kind = "toll_free"   // 800 numbers
	Shared    Kind = "shared_cost" // 400 numbers in China
	Other     Kind = "other"
)

// Number is a parsed, valid telephone number.
type Number struct {
	// E164 is the canonical form, "+8613800138000": the identity a caller
	// is known by on every channel.
	E164 string
	// Region is the ISO country code the number belongs to ("CN").
	Region string
	Kind   Kind
	// Extension is what followed the number ("8001" of "… 转 8001").
	Extension string
}

// ErrInvalid is returned for anything that is not a dialable number:
// short service numbers, withheld caller ids, internal extensions.
var ErrInvalid = errors.New("phone: not a valid number")

// maxInput bounds what is parsed: PBX fields are short, and the library's
// work grows with the input.
const maxInput = 64

var (
	// extWords are the ways an extension is written in Chinese.
	extWords = strings.NewReplacer("转", " ext. ", "分机", " ext. ", "分機", " ext. ", "＃", "#")
	// trunkMobile is a mainland mobile number behind the trunk prefix 0
	// that PBXs add for calls from other cities: 013800138000.
	trunkMobile = regexp.MustCompile(`^0(1[3-9]\d{9})$`)
	digitsOnly  = regexp.MustCompile(`\D`)
)

// Parse normalizes raw, a number as a PBX, a form or a customer wrote it,
// taking region (an ISO code; "CN" when empty) for numbers without a
// country code. It returns ErrInvalid (wrapped) for anything that is not
// a valid number.
func Parse(raw, region string) (Number, error) {
	s := strings.TrimSpace(raw)
	if region == "" {
		region = "CN"
	}
	region = strings.ToUpper(region)
	if s == "" || len(s) > maxInput {
		return Number{}, fmt.Errorf("%w: %q", ErrInvalid, cut(s))
	}
	s = strings.TrimPrefix(strings.TrimPrefix(s, "tel:"), "TEL:")
	s = extWords.Replace(s)
	if region == "CN" {
		if m := trunkMobile.FindStringSubmatch(digitsOnly.ReplaceAllString(s, "")); m != nil && !strings.ContainsAny(s, "#e") {
			s = m[1]
		}
	}
	n, err := phonenumbers.Parse(s, region)
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return Number{}, fmt.Errorf("%w: %q", ErrInvalid, cut(raw))
	}
	return Number{
		E164:      phonenumbers.Format(n, phonenumbers.E164),
		Region:    phonenumbers.GetRegionCodeForNumber(n),
		Kind:      kindOf(phonenumbers.GetNumberType(n)),
		Extension: n.GetExtension(),
	}, nil
}

// Normalize returns the E.164 form of raw, or "" when it is not a valid
// number: for lookups, where an invalid number simply matches nobody.
func Normalize(raw, region string) string {
	n, err := Parse(raw, region)
	if err != nil {
		return ""
	}
	return n.E164
}

// National is n as dialled inside its own country, digits only
// ("13800138000", "01065529988"): what agents in that country read.
func (n Number) National() string {
	p, err := phonenumbers.Parse(n.E164, n.Region)
	if err != nil {
		return n.E164
	}
	return digitsOnly.ReplaceAllString(phonenumbers.Format(p, phonenumbers.NATIONAL), "")
}

func kindOf(t phonenumbers.PhoneNumberType) Kind {
	switch t {
	case phonenumbers.MOBILE:
		return Mobile
	case phonenumbers.FIXED_LINE, phonenumbers.FIXED_LINE_OR_MOBILE:
		return FixedLine
	case phonenumbers.TOLL_FREE:
		return TollFree
	case phonenumbers.SHARED_COST:
		return Shared
	}
	return Other
}

// cut shortens s for an error message, on a rune boundary.
func cut(s string) string {
	if len(s) <= maxInput {
		return s
	}
	n := maxInput
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
