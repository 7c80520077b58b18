package tickets

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// CalendarConfig is one entry of the configuration's `calendars:` list:
//
//	calendars:
//	  - id: cn-support
//	    timezone: Asia/Shanghai
//	    hours: {mon-fri: "09:00-12:00,13:30-18:00"}
//	    include: [cn]
//	    holidays: [2026-12-31]
type CalendarConfig struct {
	ID string `yaml:"id"`
	// Timezone is the IANA zone the hours are read in; empty means the
	// configuration's top-level timezone.
	Timezone string `yaml:"timezone"`
	// Hours maps days to their open windows. A key is a day (mon … sun) or
	// a range of days ("mon-fri"; "sun-thu" wraps past the week's end); a
	// value lists windows "09:00-12:00,13:00-18:00". A day that no key
	// names, or whose value is "", is closed; "00:00-24:00" is all day. A
	// window cannot cross midnight: split it over two days.
	Hours map[string]string `yaml:"hours"`
	// Holidays lists days closed all day: "2026-10-01" or an inclusive
	// range "2026-10-01..2026-10-07" (at most a year long).
	Holidays []string `yaml:"holidays"`
	// Workdays lists make-up working days (调休上班), usually weekend days,
	// open with WorkdayHours; same syntax as Holidays.
	Workdays []string `yaml:"workdays"`
	// WorkdayHours are the windows of make-up working days; empty means
	// Monday's hours.
	WorkdayHours string `yaml:"workday_hours"`
	// Include names built-in holiday sets (see HolidaySets): "cn" is
	// mainland China's official holidays and make-up working days. The
	// calendar's own Holidays and Workdays take precedence over them.
	Include []string `yaml:"include"`
}

// dayNames lists the weekday keys in the order a week is written, Monday
// first.
var dayNames = []string{"mon", "tue", "wed", "thu", "fri", "sat", "sun"}

// NewCalendar builds a calendar. defaultLoc is the zone used when
// cfg.Timezone is empty (nil: UTC). A calendar that is never open — no
// day has hours and no make-up day has any — is an error, so a built
// calendar always has business time ahead unless its holidays close it
// for longer than HorizonDays.
//
// Every error is a *FieldError naming the field (hours.tue, holidays[2]),
// joined with errors.Join.
func NewCalendar(cfg CalendarConfig, defaultLoc *time.Location) (*Calendar, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	c := &Calendar{id: cfg.ID, loc: defaultLoc, holidays: map[int]bool{}, workdays: map[int]bool{}}
	if !validID(cfg.ID) {
		bad("id", "%q is not a valid id (letters, digits, _ . -; at most 64)", cfg.ID)
	}
	if cfg.Timezone != "" {
		loc, err := time.LoadLocation(cfg.Timezone)
		if err != nil {
			bad("timezone", "%q is not a known time zone (e.g. Asia/Shanghai)", cfg.Timezone)
		}
		c.loc = loc
	}
	if c.loc == nil {
		c.loc = time.UTC
	}

	keys := make([]string, 0, len(cfg.Hours))
	for k := range cfg.Hours {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { // the order a week is written
		ia, ib := slices.Index(dayNames, a[:min(3, len(a))]), slices.Index(dayNames, b[:min(3, len(b))])
		if ia != ib {
			return ia - ib
		}
		return strings.Compare(a, b)
	})
	setBy := map[time.Weekday]string{}
	hoursOK := true
	for _, k := range keys {
		field := fieldKey("hours", k)
		days, err := parseDays(k)
		if err != nil {
			bad(field, "%v", err)
			hoursOK = false
			continue
		}
		windows, err := parseWindows(cfg.Hours[k])
		if err != nil {
			bad(field, "%v", err)
			hoursOK = false
		}
		for _, d := range days {
			if other, dup := setBy[d]; dup {
				bad(field, "%s is also set by %q", dayNames[(d+6)%7], other)
				continue
			}
			setBy[d] = k
			c.week[d] = windows
		}
	}
	c.workday = c.week[time.Monday]
	workdayHoursOK := true
	if cfg.WorkdayHours != "" {
		windows, err := parseWindows(cfg.WorkdayHours)
		if err != nil {
			bad("workday_hours", "%v", err)
			workdayHoursOK = false
		}
		c.workday = windows
	}

	for i, name := range cfg.Include {
		set, err := holidaySet(name)
		if err != nil {
			bad(fieldIndex("include", i), "%v", err)
			continue
		}
		for _, n := range set.holidays {
			c.holidays[n] = true
			delete(c.workdays, n)
		}
		for _, n := range set.workdays {
			c.workdays[n] = true
			delete(c.holidays, n)
		}
	}
	own := map[int]int{} // the calendar's own holidays: day → index in Holidays
	for i, s := range cfg.Holidays {
		first, last, err := parseDates(s)
		if err != nil {
			bad(fieldIndex("holidays", i), "%v", err)
			continue
		}
		for n := first; n <= last; n++ {
			own[n] = i
			c.holidays[n] = true
			delete(c.workdays, n)
		}
	}
	for i, s := range cfg.Workdays {
		first, last, err := parseDates(s)
		if err != nil {
			bad(fieldIndex("workdays", i), "%v", err)
			continue
		}
		for n := first; n <= last; n++ {
			if j, clash := own[n]; clash {
				bad(fieldIndex("workdays", i), "%s is also a holiday (holidays[%d])", formatDay(n), j)
				break
			}
			c.workdays[n] = true
			delete(c.holidays, n)
		}
	}
	if len(cfg.Workdays) > 0 && len(c.workday) == 0 && workdayHoursOK {
		bad("workday_hours", "make-up working days need hours: set workday_hours (Monday, their default, is closed)")
	}
	weekly := slices.ContainsFunc(c.week[:], func(w []window) bool { return len(w) > 0 })
	if !weekly && hoursOK && (len(c.workdays) == 0 || len(c.workday) == 0) {
		bad("hours", `the calendar is never open: give at least one day's hours (e.g. mon-fri: "09:00-18:00")`)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

// parseDays reads an hours key: a day name or a range of them.
func parseDays(key string) ([]time.Weekday, error) {
	index := func(s string) int { return slices.Index(dayNames, s) }
	from, to, isRange := strings.Cut(key, "-")
	a, b := index(from), index(to)
	if !isRange {
		b = a
	}
	if a < 0 || b < 0 {
		return nil, errors.New("not a day: use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri")
	}
	var days []time.Weekday
	for i := a; ; i = (i + 1) % 7 {
		days = append(days, time.Weekday((i+1)%7)) // dayNames starts on Monday
		if i == b {
			return days, nil
		}
	}
}

// parseWindows reads "09:00-12:00,13:00-18:00" into windows sorted by
// start, merging windows that touch. "" (or blanks) means closed.
func parseWindows(s string) ([]window, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ws []window
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		from, to, ok := strings.Cut(part, "-")
		a, okA := clock(strings.TrimSpace(from))
		b, okB := clock(strings.TrimSpace(to))
		if !ok || !okA || !okB || a == 24*3600 {
			return nil, fmt.Errorf("%q is not a window like 09:00-18:00", part)
		}
		if b <= a {
			return nil, fmt.Errorf("%q does not end after it starts (a window cannot cross midnight: write 22:00-24:00 on one day and 00:00-06:00 on the next)", part)
		}
		ws = append(ws, window{a, b})
	}
	slices.SortFunc(ws, func(x, y window) int { return x.from - y.from })
	out := ws[:1]
	for _, w := range ws[1:] {
		prev := &out[len(out)-1]
		switch {
		case w.from < prev.to:
			return nil, fmt.Errorf("%s and %s overlap", formatWindow(*prev), formatWindow(w))
		case w.from == prev.to:
			prev.to = w.to
		default:
			out = append(out, w)
		}
	}
	return out, nil
}

// clock reads "HH:MM" (00:00 to 24:00) into seconds after midnight.
func clock(s string) (int, bool) {
	if len(s) != 5 || s[2] != ':' {
		return 0, false
	}
	digit := func(b byte) int {
		if b < '0' || b > '9' {
			return -100
		}
		return int(b - '0')
	}
	h, m := digit(s[0])*10+digit(s[1]), digit(s[3])*10+digit(s[4])
	if h < 0 || h > 24 || m < 0 || m > 59 || h == 24 && m != 0 {
		return 0, false
	}
	return h*3600 + m*60, true
}

func formatWindow(w window) string {
	return fmt.Sprintf("%02d:%02d-%02d:%02d", w.from/3600, w.from%3600/60, w.to/3600, w.to%3600/60)
}

// maxRangeDays bounds a range of dates, so that a typo cannot make a set of
// millions of days.
const maxRangeDays = 366

// parseDates reads "2026-10-01" or "2026-10-01..2026-10-07" into the
// first and last day numbers.
func parseDates(s string) (first, last int, err error) {
	from, to, isRange := strings.Cut(s, "..")
	if !isRange {
		to = from
	}
	first, okA := date(from)
	last, okB := date(to)
	switch {
	case !okA || !okB:
		return 0, 0, fmt.Errorf("%q is not a date like 2026-10-01 or a range like 2026-10-01..2026-10-07", s)
	case last < first:
		return 0, 0, fmt.Errorf("%q ends before it starts", s)
	case last-first >= maxRangeDays:
		return 0, 0, fmt.Errorf("%q is longer than %d days: split it", s, maxRangeDays)
	}
	return first, last, nil
}

// date reads "2026-10-01" into its day number.
func date(s string) (int, bool) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil || len(s) != len(time.DateOnly) {
		return 0, false
	}
	return dayNumber(t.Date()), true
}

func formatDay(n int) string {
	y, m, d := civil(n)
	return fmt.Sprintf("%04d-%02d-%02d", y, m, d)
}
