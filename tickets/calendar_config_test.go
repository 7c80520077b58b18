package tickets

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestNewCalendarErrors(t *testing.T) {
	weekdays := map[string]string{"mon-fri": "09:00-18:00"}
	for _, tt := range []struct {
		name string
		cfg  CalendarConfig
		want []string // the joined errors, in order
	}{
		{"no id", CalendarConfig{Hours: weekdays}, []string{`id: "" is not a valid id (letters, digits, _ . -; at most 64)`}},
		{"bad id", CalendarConfig{ID: "-x", Hours: weekdays}, []string{`id: "-x" is not a valid id (letters, digits, _ . -; at most 64)`}},
		{"bad zone", CalendarConfig{ID: "c", Timezone: "Mars/Olympus", Hours: weekdays},
			[]string{`timezone: "Mars/Olympus" is not a known time zone (e.g. Asia/Shanghai)`}},
		{"hours without minutes", CalendarConfig{ID: "c", Hours: map[string]string{"tue": "9-18"}},
			[]string{`hours.tue: "9-18" is not a window like 09:00-18:00`}},
		{"one bad window of two", CalendarConfig{ID: "c", Hours: map[string]string{"mon": "09:00-12:00, 13:00-18:60"}},
			[]string{`hours.mon: "13:00-18:60" is not a window like 09:00-18:00`}},
		{"starts at 24:00", CalendarConfig{ID: "c", Hours: map[string]string{"mon": "24:00-24:00"}},
			[]string{`hours.mon: "24:00-24:00" is not a window like 09:00-18:00`}},
		{"past 24:00", CalendarConfig{ID: "c", Hours: map[string]string{"mon": "09:00-24:30"}},
			[]string{`hours.mon: "09:00-24:30" is not a window like 09:00-18:00`}},
		{"crosses midnight", CalendarConfig{ID: "c", Hours: map[string]string{"fri": "22:00-06:00"}},
			[]string{`hours.fri: "22:00-06:00" does not end after it starts (a window cannot cross midnight: write 22:00-24:00 on one day and 00:00-06:00 on the next)`}},
		{"empty window", CalendarConfig{ID: "c", Hours: map[string]string{"fri": "09:00-09:00"}},
			[]string{`hours.fri: "09:00-09:00" does not end after it starts (a window cannot cross midnight: write 22:00-24:00 on one day and 00:00-06:00 on the next)`}},
		{"overlap", CalendarConfig{ID: "c", Hours: map[string]string{"mon": "13:00-18:00,09:00-13:30"}},
			[]string{`hours.mon: 09:00-13:30 and 13:00-18:00 overlap`}},
		{"bad day", CalendarConfig{ID: "c", Hours: map[string]string{"monday": "09:00-18:00", "mon-fri": "09:00-18:00"}},
			[]string{`hours.monday: not a day: use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri`}},
		{"key that needs quoting", CalendarConfig{ID: "c", Hours: map[string]string{"mon fri": "09:00-18:00", "sat": "10:00-12:00"}},
			[]string{`hours["mon fri"]: not a day: use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri`}},
		{"day set twice", CalendarConfig{ID: "c", Hours: map[string]string{"mon-fri": "09:00-18:00", "fri": "09:00-12:00"}},
			[]string{`hours.fri: fri is also set by "mon-fri"`}},
		{"never open", CalendarConfig{ID: "c", Hours: map[string]string{"sat": "", "sun": "  "}},
			[]string{`hours: the calendar is never open: give at least one day's hours (e.g. mon-fri: "09:00-18:00")`}},
		{"never open, no hours at all", CalendarConfig{ID: "c", Include: []string{"cn"}},
			[]string{`hours: the calendar is never open: give at least one day's hours (e.g. mon-fri: "09:00-18:00")`}},
		{"bad dates", CalendarConfig{ID: "c", Hours: weekdays, Holidays: []string{"2026-10-01", "2026-13-01", "2026-10-1", "2026-02-30", "2026-10-07..2026-10-01", "2026-01-01..2027-01-02", "2026-10-01...2026-10-02"}},
			[]string{
				`holidays[1]: "2026-13-01" is not a date like 2026-10-01 or a range like 2026-10-01..2026-10-07`,
				`holidays[2]: "2026-10-1" is not a date like 2026-10-01 or a range like 2026-10-01..2026-10-07`,
				`holidays[3]: "2026-02-30" is not a date like 2026-10-01 or a range like 2026-10-01..2026-10-07`,
				`holidays[4]: "2026-10-07..2026-10-01" ends before it starts`,
				`holidays[5]: "2026-01-01..2027-01-02" is longer than 366 days: split it`,
				`holidays[6]: "2026-10-01...2026-10-02" is not a date like 2026-10-01 or a range like 2026-10-01..2026-10-07`,
			}},
		{"a day both off and on", CalendarConfig{ID: "c", Hours: weekdays, Holidays: []string{"2026-10-01..2026-10-07"}, Workdays: []string{"2026-10-10", "2026-10-06..2026-10-07"}},
			[]string{`workdays[1]: 2026-10-06 is also a holiday (holidays[0])`}},
		{"make-up days without hours", CalendarConfig{ID: "c", Hours: map[string]string{"tue-sat": "09:00-18:00"}, Workdays: []string{"2026-10-11"}},
			[]string{`workday_hours: make-up working days need hours: set workday_hours (Monday, their default, is closed)`}},
		{"bad workday hours", CalendarConfig{ID: "c", Hours: weekdays, WorkdayHours: "9:00-18:00"},
			[]string{`workday_hours: "9:00-18:00" is not a window like 09:00-18:00`}},
		{"unknown holiday set", CalendarConfig{ID: "c", Hours: weekdays, Include: []string{"cn", "jp"}},
			[]string{`include[1]: unknown holiday set "jp" (known: cn)`}},
		{"errors come in field order", CalendarConfig{ID: "", Hours: map[string]string{"sun": "x", "mon": "y"}, Holidays: []string{"z"}},
			[]string{
				`id: "" is not a valid id (letters, digits, _ . -; at most 64)`,
				`hours.mon: "y" is not a window like 09:00-18:00`,
				`hours.sun: "x" is not a window like 09:00-18:00`,
				`holidays[0]: "z" is not a date like 2026-10-01 or a range like 2026-10-01..2026-10-07`,
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCalendar(tt.cfg, time.UTC)
			if err == nil {
				t.Fatalf("NewCalendar succeeded, want\n%s", strings.Join(tt.want, "\n"))
			}
			if c != nil {
				t.Errorf("NewCalendar returned a calendar with its error")
			}
			if got := err.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("error\n%s\nwant\n%s", got, strings.Join(tt.want, "\n"))
			}
			for _, e := range unjoin(err) {
				if fe, ok := errors.AsType[*FieldError](e); !ok || fe.Field == "" {
					t.Errorf("%v is not a *FieldError with a field", e)
				}
			}
		})
	}
}

func TestNewCalendar(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	for _, tt := range []struct {
		name   string
		cfg    CalendarConfig
		open   []string // Shanghai wall-clock times that are open
		closed []string
	}{
		{
			name:   "the default zone",
			cfg:    CalendarConfig{ID: "c", Hours: map[string]string{"mon-fri": "09:00-18:00"}},
			open:   []string{"2026-03-02 09:00", "2026-03-06 17:59"},
			closed: []string{"2026-03-02 08:59", "2026-03-07 10:00", "2026-03-08 10:00"},
		},
		{
			name:   "days wrap past sunday; windows in any order, touching ones merge",
			cfg:    CalendarConfig{ID: "c", Hours: map[string]string{"sun-thu": "12:00-18:00, 08:00-12:00"}},
			open:   []string{"2026-03-01 08:00", "2026-03-05 12:00", "2026-03-02 11:59"},
			closed: []string{"2026-03-06 10:00", "2026-03-07 10:00", "2026-03-02 18:00"},
		},
		{
			name: "a holiday set with its own changes",
			cfg: CalendarConfig{ID: "c", Hours: map[string]string{"mon-fri": "09:00-18:00"}, Include: []string{"cn"},
				Holidays: []string{"2026-10-10", "2026-12-31"}, Workdays: []string{"2026-10-07"}, WorkdayHours: "10:00-16:00"},
			open:   []string{"2026-10-07 10:00", "2026-02-28 15:59", "2026-12-30 10:00"},
			closed: []string{"2026-10-07 09:30", "2026-10-06 10:00", "2026-10-10 10:00", "2026-12-31 10:00", "2026-02-28 16:00"},
		},
		{
			name:   "workdays alone",
			cfg:    CalendarConfig{ID: "c", Workdays: []string{"2026-03-07..2026-03-08"}, WorkdayHours: "00:00-24:00"},
			open:   []string{"2026-03-07 00:00", "2026-03-08 23:59"},
			closed: []string{"2026-03-06 23:59", "2026-03-09 00:00"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewCalendar(tt.cfg, sh)
			if err != nil {
				t.Fatal(err)
			}
			if c.ID() != "c" || c.Location() != sh {
				t.Errorf("ID %q, Location %v", c.ID(), c.Location())
			}
			for _, s := range tt.open {
				if !c.Open(at(t, sh, s)) {
					t.Errorf("%s is closed, want open", s)
				}
			}
			for _, s := range tt.closed {
				if c.Open(at(t, sh, s)) {
					t.Errorf("%s is open, want closed", s)
				}
			}
		})
	}
	// A zone of its own beats the default; nil default is UTC.
	c := mustCalendar(t, CalendarConfig{ID: "ny", Timezone: "America/New_York", Hours: map[string]string{"mon": "09:00-10:00"}})
	if c.Location().String() != "America/New_York" {
		t.Errorf("Location = %v", c.Location())
	}
	c, err := NewCalendar(CalendarConfig{ID: "u", Hours: map[string]string{"mon": "09:00-10:00"}}, nil)
	if err != nil || c.Location() != time.UTC {
		t.Errorf("nil default: %v, %v", c, err)
	}
}

func TestParseWindows(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []window
	}{
		{"", nil},
		{"   ", nil},
		{"09:00-18:00", []window{{9 * 3600, 18 * 3600}}},
		{"00:00-24:00", []window{{0, 86400}}},
		{"13:30-18:00,09:00-12:00", []window{{9 * 3600, 12 * 3600}, {13*3600 + 1800, 18 * 3600}}},
		{"09:00-12:00,12:00-13:00", []window{{9 * 3600, 13 * 3600}}},
		{" 08:15 - 08:45 ", []window{{8*3600 + 900, 8*3600 + 2700}}},
	} {
		got, err := parseWindows(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseWindows(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"9:00-18:00", "09:00", "09:00-", "-18:00", "09:00-18:00,", "09.00-18.00", "０９:00-18:00", "09:00–18:00", "+9:00-18:00", "09:00-18:00-19:00"} {
		if got, err := parseWindows(bad); err == nil {
			t.Errorf("parseWindows(%q) = %v, want an error", bad, got)
		}
	}
}

func TestParseDays(t *testing.T) {
	for _, tt := range []struct {
		key  string
		want []time.Weekday
	}{
		{"mon", []time.Weekday{time.Monday}},
		{"sun", []time.Weekday{time.Sunday}},
		{"mon-fri", []time.Weekday{time.Monday, time.Tuesday, time.Wednesday, time.Thursday, time.Friday}},
		{"sat-sun", []time.Weekday{time.Saturday, time.Sunday}},
		{"fri-mon", []time.Weekday{time.Friday, time.Saturday, time.Sunday, time.Monday}},
		{"wed-wed", []time.Weekday{time.Wednesday}},
	} {
		if got, err := parseDays(tt.key); err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("parseDays(%q) = %v, %v; want %v", tt.key, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "Mon", "monday", "mon-", "-fri", "mon-fri-sat", "mon,tue", "weekdays"} {
		if got, err := parseDays(bad); err == nil {
			t.Errorf("parseDays(%q) = %v, want an error", bad, got)
		}
	}
}
