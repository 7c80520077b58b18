package telephony

import (
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"unicode"

	"switchboard/connectors/telephony/ami"
)

// Source is one PBX from `channels.cti`.
type Source struct {
	// ID names the source in the webhook's path (/channels/cti/{id}/events),
	// in call records and in the AMI lease.
	ID string `yaml:"id"`
	// Secret is the webhook's token: ?token=, X-CTI-Token or Authorization:
	// Bearer. At least 16 characters; never logged.
	Secret string `yaml:"secret"`
	// DefaultRegion is the ISO country code for numbers the PBX sends
	// without one; default the top-level default_region.
	DefaultRegion string `yaml:"default_region"`
	// Team gets the pop of a call when the PBX names no agent, and no
	// number of Numbers matches.
	Team string `yaml:"team"`
	// Numbers maps the company's numbers to teams: an inbound call to one
	// of them pops up for (and its tickets go to) that team.
	Numbers []Number `yaml:"numbers"`
	// MissedCallTicket opens a callback ticket for each missed inbound call.
	MissedCallTicket bool `yaml:"missed_call_ticket"`
	// AMI, when set, follows the PBX's calls through the Asterisk Manager
	// Interface (package ami documents its keys).
	AMI *ami.Config `yaml:"ami"`

	region string
	teams  map[string]string // numberKey → team
}

// Number is one of the company's numbers and its team.
type Number struct {
	Number string `yaml:"number"`
	Team   string `yaml:"team"`
}

// LogValue keeps the secrets out of logs: a source logs as its id.
func (s *Source) LogValue() slog.Value { return slog.StringValue(s.ID) }

var (
	idPattern     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)
	regionPattern = regexp.MustCompile(`^[A-Z]{2}$`)
	teamPattern   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
)

// minSecret is the shortest secret accepted: anyone who guesses it can pop
// screens and open tickets.
const minSecret = 16

// check validates s and fills in defaults; region is the top-level
// default. Errors name the key.
func (s *Source) check(region string) []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if !idPattern.MatchString(s.ID) {
		bad("id", "%q is not a valid id (letters, digits, _ and -)", s.ID)
	}
	switch {
	case s.Secret == "":
		bad("secret", "is required: the PBX sends it with every event (?token=, X-CTI-Token or Authorization: Bearer)")
	case len(s.Secret) < minSecret:
		bad("secret", "is shorter than %d characters", minSecret)
	case strings.ContainsFunc(s.Secret, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
		bad("secret", "must not contain spaces or control characters")
	}
	s.region = strings.ToUpper(s.DefaultRegion)
	if s.region == "" {
		s.region = strings.ToUpper(region)
	}
	if s.region == "" {
		s.region = "CN"
	}
	if !regionPattern.MatchString(s.region) {
		bad("default_region", "%q is not a two-letter country code like CN", s.DefaultRegion)
	}
	if s.Team != "" && !teamPattern.MatchString(s.Team) {
		bad("team", "%q is not a valid team id", s.Team)
	}
	s.teams = map[string]string{}
	for i, n := range s.Numbers {
		at := fmt.Sprintf("numbers[%d]", i)
		key := numberKey(n.Number, "", s.region)
		switch {
		case key == "":
			bad(at+".number", "%q is not a telephone number", n.Number)
		case s.teams[key] != "":
			bad(at+".number", "%q is listed twice", n.Number)
		}
		if !teamPattern.MatchString(n.Team) {
			bad(at+".team", "%q is not a valid team id", n.Team)
		}
		if key != "" {
			s.teams[key] = n.Team
		}
	}
	if s.AMI != nil {
		if err := s.AMI.Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// teamRefs lists the teams s names, by key path.
func (s *Source) teamRefs() map[string]string {
	refs := map[string]string{}
	if s.Team != "" {
		refs["team"] = s.Team
	}
	for i, n := range s.Numbers {
		refs[fmt.Sprintf("numbers[%d].team", i)] = n.Team
	}
	return refs
}

// numberKey is how a number is matched against Numbers: its E.164 form
// (given as norm, or parsed from raw in region), or for what is no valid
// number (an internal short number) its digits after a "#". "" when raw
// has no digits at all.
func numberKey(raw, norm, region string) string {
	if norm == "" {
		norm = e164(raw, region)
	}
	if norm != "" {
		return norm
	}
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, raw)
	if digits == "" {
		return ""
	}
	return "#" + digits
}
