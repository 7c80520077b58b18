package codes

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on what a code holds.
const (
	MaxFields  = 10
	MaxOptions = 30
)

// ValidationError lists what is wrong with a code; each problem starts
// with the path of its field ("asset.name: is required").
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

var (
	idRe       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	categoryRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,63}$`)
	keyRe      = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
)

// reservedKeys are the names of the form's own inputs.
var reservedKeys = map[string]bool{"description": true, "phone": true, "email": true, "name": true,
	"photos": true, "token": true, "lang": true}

// Validate trims c's texts and checks them: an asset name, well-formed
// ids, and fields a form can ask. It does not know which teams and
// WeChat accounts exist; the caller checks those.
func Validate(c *Code) error {
	v := &checker{}
	a := &c.Asset
	v.text("asset.name", &a.Name, 100, true)
	v.text("asset.serial", &a.Serial, 64, false)
	v.text("asset.site", &a.Site, 100, false)
	v.text("asset.address", &a.Address, 200, false)
	a.Category = strings.TrimSpace(a.Category)
	if a.Category != "" && !categoryRe.MatchString(a.Category) {
		v.bad("asset.category", "must be an identifier of at most 64 letters, digits and _ . : / - (routing rules match it)")
	}
	c.Team = strings.TrimSpace(c.Team)
	if c.Team != "" && !idRe.MatchString(c.Team) {
		v.bad("team", "%q is not a team id", c.Team)
	}
	c.WeChatOA = strings.TrimSpace(c.WeChatOA)
	if c.WeChatOA != "" && !idRe.MatchString(c.WeChatOA) {
		v.bad("wechat_oa", "%q is not an account id", c.WeChatOA)
	}
	if len(c.Fields) > MaxFields {
		v.bad("fields", "at most %d fields", MaxFields)
	}
	seen := map[string]bool{}
	for i := range c.Fields {
		v.field(fmt.Sprintf("fields[%d]", i), &c.Fields[i], seen)
	}
	if c.Fields == nil {
		c.Fields = []Field{}
	}
	if len(v.problems) > 0 {
		return &ValidationError{Problems: v.problems}
	}
	return nil
}

type checker struct{ problems []string }

func (v *checker) bad(path, format string, args ...any) {
	v.problems = append(v.problems, path+": "+fmt.Sprintf(format, args...))
}

// text trims *s and checks it is at most max characters of printable
// UTF-8, and present when required.
func (v *checker) text(path string, s *string, max int, required bool) {
	*s = strings.TrimSpace(*s)
	switch {
	case *s == "" && required:
		v.bad(path, "is required")
	case !utf8.ValidString(*s):
		v.bad(path, "is not UTF-8")
	case utf8.RuneCountInString(*s) > max:
		v.bad(path, "is longer than %d characters", max)
	case strings.IndexFunc(*s, unicode.IsControl) >= 0:
		v.bad(path, "has control characters")
	}
}

func (v *checker) field(path string, f *Field, seen map[string]bool) {
	f.Key = strings.TrimSpace(f.Key)
	switch {
	case !keyRe.MatchString(f.Key):
		v.bad(path+".key", "%q must be 1–32 of a–z 0–9 _, starting with a letter", f.Key)
	case reservedKeys[f.Key]:
		v.bad(path+".key", "%q is the name of one of the form's own inputs", f.Key)
	case seen[f.Key]:
		v.bad(path+".key", "%q is used twice", f.Key)
	}
	seen[f.Key] = true
	v.text(path+".label.zh", &f.Label.ZH, 60, false)
	v.text(path+".label.en", &f.Label.EN, 60, false)
	if f.Label.ZH == "" && f.Label.EN == "" {
		v.bad(path+".label", "needs zh or en")
	}
	switch f.Type {
	case TypeText:
		if len(f.Options) > 0 {
			v.bad(path+".options", "only a select has options")
		}
	case TypeSelect:
		if len(f.Options) == 0 || len(f.Options) > MaxOptions {
			v.bad(path+".options", "a select needs 1–%d options", MaxOptions)
		}
		opts := map[string]bool{}
		for j := range f.Options {
			p := fmt.Sprintf("%s.options[%d]", path, j)
			v.text(p, &f.Options[j], 60, true)
			if opts[f.Options[j]] {
				v.bad(p, "%q is listed twice", f.Options[j])
			}
			opts[f.Options[j]] = true
		}
	default:
		v.bad(path+".type", "%q is not text or select", f.Type)
	}
}
