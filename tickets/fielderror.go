package tickets

import (
	"strconv"
	"strings"
	"unicode"
)

// FieldError is one problem with one field of a configuration value.
// NewCalendar, SLAPolicy.Validate and ValidatePolicies return them, joined
// with errors.Join, so that the configuration loader can put each under
// its full key path (calendars[1].hours.tue).
type FieldError struct {
	// Field is the path below the value: "hours.tue", "escalate[1].team",
	// or "[0].when.team" for an error about the first of a list.
	Field string
	// Msg says what is wrong.
	Msg string
}

// Error returns "field: msg".
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// fieldKey returns the path of map key key below path, quoting a key that
// would be ambiguous after a dot, as the configuration loader does:
// hours["mon fri"].
func fieldKey(path, key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool {
		return strings.ContainsRune(`.[]"`, r) || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	return path + "." + key
}

// fieldIndex returns the path of item i of the list at path: holidays[3].
func fieldIndex(path string, i int) string {
	return path + "[" + strconv.Itoa(i) + "]"
}

// validID reports whether s may be a calendar or team id (the same rule as
// session.ValidID, which this package cannot import).
func validID(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || i > 0 && strings.ContainsRune("_.-", r)
		if !ok {
			return false
		}
	}
	return true
}
