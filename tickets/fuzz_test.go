package tickets

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzCalendarConfig feeds the hours, date and window parsers arbitrary
// text. NewCalendar must not panic, must fail only with field errors, and
// a calendar it builds must keep Add and Between consistent.
func FuzzCalendarConfig(f *testing.F) {
	f.Add("mon-fri", "09:00-12:00,13:30-18:00", "2026-10-01..2026-10-07", "2026-10-10", "", "cn", int64(1790000000), int64(36000))
	f.Add("sun-thu", "00:00-24:00", "2026-02-30", "2026-10-01...2026-10-02", "9-18", "", int64(0), int64(-5))
	f.Add("fri", "22:00-06:00", "", "", "08:00-08:00", "jp", int64(-62135596800), int64(1<<40))
	f.Add("sat", "02:30-05:00", "2026-01-01..2026-12-31", "2025-12-31", "00:00-24:00", "", int64(1774746000), int64(7200))
	f.Fuzz(func(t *testing.T, key, hours, holiday, workday, workdayHours, include string, startUnix, seconds int64) {
		cfg := CalendarConfig{ID: "fuzz", Timezone: "Europe/Berlin", Hours: map[string]string{key: hours},
			WorkdayHours: workdayHours}
		if holiday != "" {
			cfg.Holidays = []string{holiday}
		}
		if workday != "" {
			cfg.Workdays = []string{workday}
		}
		if include != "" {
			cfg.Include = []string{include}
		}
		c, err := NewCalendar(cfg, time.UTC)
		if err != nil {
			for _, e := range unjoin(err) {
				if _, ok := errors.AsType[*FieldError](e); !ok {
					t.Fatalf("%v is not a *FieldError", e)
				}
			}
			if c != nil {
				t.Fatal("a calendar with an error")
			}
		}

		// Windows that parse print back to the same windows.
		if ws, err := parseWindows(hours); err == nil && len(ws) > 0 {
			printed := make([]string, len(ws))
			for i, w := range ws {
				printed[i] = formatWindow(w)
			}
			again, err := parseWindows(strings.Join(printed, ","))
			if err != nil || !slices.Equal(again, ws) {
				t.Fatalf("%q parsed to %v, printed %v, parsed again to %v, %v", hours, ws, printed, again, err)
			}
		}
		if first, last, err := parseDates(holiday); err == nil && (last < first || last-first >= maxRangeDays) {
			t.Fatalf("parseDates(%q) = %d..%d", holiday, first, last)
		}

		if c == nil {
			return
		}
		// Instants from year 1900 to 2100, durations up to 1000h.
		start := time.Unix(-2208988800+mod(startUnix, 6311390400), 0)
		d := time.Duration(mod(seconds, 1000*3600)) * time.Second
		due := c.Add(start, d)
		if due.IsZero() {
			return
		}
		if due.Before(start) {
			t.Fatalf("Add(%v, %v) = %v, before start", start, d, due)
		}
		if got := c.Between(start, due); got != d {
			t.Fatalf("Between(a, Add(a, %v)) = %v (a %v, due %v)", d, got, start, due)
		}
	})
}

// mod returns x modulo m in [0, m).
func mod(x, m int64) int64 {
	return (x%m + m) % m
}
