package tickets

import (
	"iter"
	"time"
)

// HorizonDays is how far past its start Calendar.Add looks for business time:
// about five years of calendar days. A calendar that does not offer the
// asked business time within it (one that is never open, or is closed for
// years by its holidays) makes Add return the zero time.
const HorizonDays = 5*366 + 1

// Calendar is a team's business hours: open windows per weekday in one
// time zone, less holidays, plus make-up working days. Build one with
// NewCalendar.
//
// A nil *Calendar means 24×7: every method works on nil and counts every
// instant. The zero Calendar (never built by NewCalendar) is never open.
//
// All arithmetic is on instants: times may be in any location, and a window
// is read on the wall clock of the calendar's zone, so a window 01:00-04:00
// on the day clocks go forward one hour holds two hours of business time.
type Calendar struct {
	id  string
	loc *time.Location
	// week holds the open windows of each weekday (index time.Weekday).
	week [7][]window
	// workday holds the windows of make-up working days.
	workday []window
	// holidays and workdays are sets of civil days (see dayNumber);
	// a day is never in both.
	holidays, workdays map[int]bool
}

// window is one open stretch of a day, in seconds after midnight on the
// wall clock: 0 <= from < to <= 86400.
type window struct{ from, to int }

// span is one stretch of open time, as instants.
type span struct{ from, to time.Time }

// ID returns the calendar's id from the configuration ("" for nil).
func (c *Calendar) ID() string {
	if c == nil {
		return ""
	}
	return c.id
}

// Location returns the time zone the calendar's hours are read in (UTC for
// nil).
func (c *Calendar) Location() *time.Location {
	if c == nil || c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// Open reports whether t falls in business hours: in a window that
// includes its opening instant and excludes its closing one.
func (c *Calendar) Open(t time.Time) bool {
	if c == nil {
		return true
	}
	return c.Between(t, t.Add(1)) > 0
}

// Add returns the instant when d of business time has passed after start.
// A start outside business hours counts from the next opening; a due time
// that falls on a closing instant is that instant (09:00 plus 9h in a
// 09:00-18:00 day is 18:00, not the next morning). d <= 0 returns start.
//
// When the calendar has less than d of business time in the HorizonDays after
// start, Add returns the zero time, which callers take as "no due time".
// The result is in start's location.
func (c *Calendar) Add(start time.Time, d time.Duration) time.Time {
	if d <= 0 {
		return start
	}
	if c == nil {
		return start.Add(d)
	}
	for s := range c.spans(start, c.day(start)+HorizonDays) {
		from := later(s.from, start)
		avail := s.to.Sub(from)
		if avail >= d {
			return from.Add(d).In(start.Location())
		}
		d -= avail
	}
	return time.Time{}
}

// Between returns the business time elapsed in [a, b); 0 if b <= a.
func (c *Calendar) Between(a, b time.Time) time.Duration {
	if !b.After(a) {
		return 0
	}
	if c == nil {
		return b.Sub(a)
	}
	var sum time.Duration
	for s := range c.spans(a, c.day(b)+1) {
		if !s.from.Before(b) {
			break
		}
		sum += earlier(s.to, b).Sub(later(s.from, a))
	}
	return sum
}

// spans yields the open spans that end after t, in order and without
// overlap, from the local day before t's up to and including day last
// (day numbers as dayNumber counts them).
//
// Each span is a window read on its day's wall clock. Around a DST switch
// a wall-clock time can name no instant or two, and time.Date then picks
// one; each span is clamped to start no earlier than the previous one
// ended, so the spans never overlap and Add and Between agree.
func (c *Calendar) spans(t time.Time, last int) iter.Seq[span] {
	return func(yield func(span) bool) {
		loc := c.Location()
		var prev time.Time
		for n := c.day(t) - 1; n <= last; n++ {
			windows := c.hours(n)
			if len(windows) == 0 {
				continue
			}
			y, m, d := civil(n)
			for _, w := range windows {
				from := later(time.Date(y, m, d, 0, 0, w.from, 0, loc), prev)
				to := later(time.Date(y, m, d, 0, 0, w.to, 0, loc), from)
				prev = to
				if to.After(from) && to.After(t) && !yield(span{from, to}) {
					return
				}
			}
		}
	}
}

// hours returns the windows of civil day n.
func (c *Calendar) hours(n int) []window {
	switch {
	case c.holidays[n]:
		return nil
	case c.workdays[n]:
		return c.workday
	}
	return c.week[weekday(n)]
}

// day returns the number of t's civil day in the calendar's zone.
func (c *Calendar) day(t time.Time) int {
	y, m, d := t.In(c.Location()).Date()
	return dayNumber(y, m, d)
}

// dayNumber counts civil days from 1970-01-01 (day 0); days before it are
// negative.
func dayNumber(y int, m time.Month, d int) int {
	return int(time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400)
}

// civil returns the date of day number n.
func civil(n int) (int, time.Month, int) {
	return time.Unix(int64(n)*86400, 0).UTC().Date()
}

// weekday returns the day of the week of day number n (1970-01-01 was a
// Thursday).
func weekday(n int) time.Weekday {
	return time.Weekday(((n+4)%7 + 7) % 7)
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func earlier(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
