package tickets

import (
	"math/rand/v2"
	"testing"
	"time"
	_ "time/tzdata" // the tests' zones, whatever the machine has installed
)

func mustLoad(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at reads "2026-03-02 09:00" (or with seconds) as a wall-clock time in loc.
func at(t testing.TB, loc *time.Location, s string) time.Time {
	t.Helper()
	layout := "2006-01-02 15:04"
	if len(s) == len("2006-01-02 15:04:05") {
		layout = "2006-01-02 15:04:05"
	}
	v, err := time.ParseInLocation(layout, s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func mustCalendar(t testing.TB, cfg CalendarConfig) *Calendar {
	t.Helper()
	c, err := NewCalendar(cfg, time.UTC)
	if err != nil {
		t.Fatalf("NewCalendar(%+v): %v", cfg, err)
	}
	return c
}

// cnSupport is the demo's calendar: weekdays 09:00-12:00 and 13:30-18:00
// (7h30m a day) in Shanghai, with China's holidays and make-up days.
func cnSupport(t testing.TB) *Calendar {
	return mustCalendar(t, CalendarConfig{ID: "cn-support", Timezone: "Asia/Shanghai",
		Hours: map[string]string{"mon-fri": "09:00-12:00,13:30-18:00"}, Include: []string{"cn"}})
}

// Literal times below are Shanghai wall clock unless they say UTC. Weekdays:
// 2026-03-02 is a Monday; 2026-02-14 and 2026-02-28 are make-up Saturdays;
// 2026-02-15..23 is the Spring Festival; 2026-10-01..07 National Day, with
// 2026-10-10 (Sat) a make-up day; 2025-10-01..08 National Day 2025.
func TestCalendarAdd(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	cn := cnSupport(t)
	for _, tt := range []struct {
		name  string
		start string
		d     time.Duration
		want  string
	}{
		{"inside a window", "2026-03-02 10:00", time.Hour, "2026-03-02 11:00"},
		{"across lunch", "2026-03-02 11:30", time.Hour, "2026-03-02 14:00"},
		{"start at lunch", "2026-03-02 12:15", 30 * time.Minute, "2026-03-02 14:00"},
		{"start at opening", "2026-03-02 09:00", 3 * time.Hour, "2026-03-02 12:00"},
		{"due at closing is closing", "2026-03-02 17:00", time.Hour, "2026-03-02 18:00"},
		{"overnight", "2026-03-02 17:00", 2 * time.Hour, "2026-03-03 10:00"},
		{"before opening", "2026-03-02 06:00", time.Minute, "2026-03-02 09:01"},
		{"friday evening to monday", "2026-03-06 19:00", time.Hour, "2026-03-09 10:00"},
		{"saturday to monday", "2026-03-07 10:00", 4 * time.Hour, "2026-03-09 14:30"},
		{"ten working days", "2026-03-02 09:00", 75 * time.Hour, "2026-03-13 18:00"},
		{"ten working days and a minute", "2026-03-02 09:00", 75*time.Hour + time.Minute, "2026-03-16 09:01"},
		{"into a make-up saturday", "2026-02-13 17:00", 2 * time.Hour, "2026-02-14 10:00"},
		{"make-up saturday over the spring festival", "2026-02-14 17:30", time.Hour, "2026-02-24 09:30"},
		{"a make-up saturday is a working day", "2026-02-27 17:00", 2 * time.Hour, "2026-02-28 10:00"},
		{"holiday eve after hours", "2026-09-30 18:30", time.Hour, "2026-10-08 10:00"},
		{"over national day", "2026-09-30 17:00", 8 * time.Hour, "2026-10-08 17:30"},
		{"over national day to its make-up saturday", "2026-09-30 17:00", 17 * time.Hour, "2026-10-10 10:00"},
		{"start inside a holiday", "2026-10-03 11:00", time.Hour, "2026-10-08 10:00"},
		{"new year into a make-up sunday", "2025-12-31 17:00", 2 * time.Hour, "2026-01-04 10:00"},
		{"national day 2025", "2025-09-30 17:00", 90 * time.Minute, "2025-10-09 09:30"},
		{"make-up sunday 2025", "2025-09-26 17:00", 2 * time.Hour, "2025-09-28 10:00"},
		{"zero returns start", "2026-03-07 10:00", 0, "2026-03-07 10:00"},
		{"negative returns start", "2026-03-02 10:00", -time.Hour, "2026-03-02 10:00"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start, want := at(t, sh, tt.start), at(t, sh, tt.want)
			if got := cn.Add(start, tt.d); !got.Equal(want) {
				t.Errorf("Add(%s, %v) = %s, want %s", tt.start, tt.d, got.In(sh).Format(time.DateTime), tt.want)
			}
			if tt.d > 0 {
				if got := cn.Between(start, want); got != tt.d {
					t.Errorf("Between(%s, %s) = %v, want %v", tt.start, tt.want, got, tt.d)
				}
			}
		})
	}
}

func TestCalendarAddKeepsTheCallersLocation(t *testing.T) {
	cn := cnSupport(t)
	// 01:00 UTC is 09:00 in Shanghai; three hours later is 12:00 there.
	start := time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)
	got := cn.Add(start, 3*time.Hour)
	if want := time.Date(2026, 3, 2, 4, 0, 0, 0, time.UTC); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("Add = %v, want %v in UTC", got, want)
	}
	// 23:00 UTC on Sunday is 07:00 Monday in Shanghai: Monday counts.
	if got := cn.Add(time.Date(2026, 3, 1, 23, 0, 0, 0, time.UTC), time.Hour); !got.Equal(time.Date(2026, 3, 2, 2, 0, 0, 0, time.UTC)) {
		t.Errorf("Add from Sunday 23:00 UTC = %v, want 02:00 UTC Monday", got)
	}
}

func TestCalendarBetween(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	cn := cnSupport(t)
	for _, tt := range []struct {
		a, b string
		want time.Duration
	}{
		{"2026-03-02 09:00", "2026-03-02 18:00", 7*time.Hour + 30*time.Minute},
		{"2026-03-02 08:00", "2026-03-03 08:00", 7*time.Hour + 30*time.Minute},
		{"2026-03-02 11:00", "2026-03-02 14:00", 90 * time.Minute},
		{"2026-03-02 12:00", "2026-03-02 13:30", 0},
		{"2026-03-02 00:00", "2026-03-09 00:00", 37*time.Hour + 30*time.Minute},
		{"2026-03-07 00:00", "2026-03-09 00:00", 0},                            // a weekend
		{"2026-02-28 00:00", "2026-03-01 00:00", 7*time.Hour + 30*time.Minute}, // make-up Saturday
		{"2026-09-30 00:00", "2026-10-09 00:00", 15 * time.Hour},               // 09-30 and 10-08
		{"2026-10-01 00:00", "2026-10-08 00:00", 0},                            // National Day
		{"2026-02-14 17:59", "2026-02-24 09:01", 2 * time.Minute},
		{"2026-03-02 10:00", "2026-03-02 10:00", 0},
		{"2026-03-02 11:00", "2026-03-02 10:00", 0}, // b before a
	} {
		if got := cn.Between(at(t, sh, tt.a), at(t, sh, tt.b)); got != tt.want {
			t.Errorf("Between(%s, %s) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
	// The same instants in UTC give the same answer.
	a, b := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC), time.Date(2026, 3, 2, 12, 0, 0, 0, time.UTC)
	if got := cn.Between(a, b); got != 7*time.Hour+30*time.Minute {
		t.Errorf("Between in UTC = %v, want 7h30m", got)
	}
}

func TestCalendarOpen(t *testing.T) {
	sh := mustLoad(t, "Asia/Shanghai")
	cn := cnSupport(t)
	for _, tt := range []struct {
		t    string
		want bool
	}{
		{"2026-03-02 08:59:59", false},
		{"2026-03-02 09:00:00", true},
		{"2026-03-02 11:59:59", true},
		{"2026-03-02 12:00:00", false}, // a window's end is not in it
		{"2026-03-02 13:30:00", true},
		{"2026-03-02 18:00:00", false},
		{"2026-03-07 10:00:00", false}, // Saturday
		{"2026-02-28 10:00:00", true},  // make-up Saturday
		{"2026-02-23 10:00:00", false}, // Monday in the Spring Festival
		{"2026-10-01 10:00:00", false},
		{"2026-10-08 10:00:00", true},
	} {
		if got := cn.Open(at(t, sh, tt.t)); got != tt.want {
			t.Errorf("Open(%s) = %v, want %v", tt.t, got, tt.want)
		}
	}
	if !cn.Open(time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC)) {
		t.Error("01:00 UTC (09:00 Shanghai) on a Monday is closed")
	}
	if cn.Open(time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)) {
		t.Error("10:00 UTC (18:00 Shanghai) on a Monday is open")
	}
}

func TestCalendarMidnight(t *testing.T) {
	// A night shift: Friday 20:00 to Saturday 02:00, written over two days.
	c := mustCalendar(t, CalendarConfig{ID: "night", Timezone: "UTC",
		Hours: map[string]string{"fri": "20:00-24:00", "sat": "00:00-02:00"}})
	fri := func(h, m int) time.Time { return time.Date(2026, 3, 6, h, m, 0, 0, time.UTC) }
	if got, want := c.Add(fri(23, 0), 2*time.Hour), time.Date(2026, 3, 7, 1, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Add across midnight = %v, want %v", got, want)
	}
	if got, want := c.Add(fri(20, 0), 4*time.Hour), fri(24, 0); !got.Equal(want) {
		t.Errorf("Add to 24:00 = %v, want %v", got, want)
	}
	if got := c.Between(fri(20, 0), time.Date(2026, 3, 7, 2, 0, 0, 0, time.UTC)); got != 6*time.Hour {
		t.Errorf("Between over midnight = %v, want 6h", got)
	}
	if !c.Open(fri(24, 0)) || !c.Open(fri(23, 59)) || c.Open(time.Date(2026, 3, 7, 2, 0, 0, 0, time.UTC)) {
		t.Error("Open at 23:59, 24:00 and 02:00 is wrong")
	}
	// Saturday 02:00 to next Friday 20:00 is closed.
	if got, want := c.Add(time.Date(2026, 3, 7, 1, 30, 0, 0, time.UTC), time.Hour), time.Date(2026, 3, 13, 20, 30, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Add over a closed week = %v, want %v", got, want)
	}
	// All day, every day, is 24×7 in a zone without DST.
	all := mustCalendar(t, CalendarConfig{ID: "all", Timezone: "Asia/Shanghai", Hours: map[string]string{"mon-sun": "00:00-24:00"}})
	start := time.Date(2026, 3, 2, 15, 4, 5, 6, time.UTC)
	if got := all.Add(start, 1000*time.Hour); !got.Equal(start.Add(1000 * time.Hour)) {
		t.Errorf("all-day Add = %v, want %v", got, start.Add(1000*time.Hour))
	}
}

// Berlin switches to summer time at 02:00 on 2026-03-29 (02:00 CET becomes
// 03:00 CEST) and back at 03:00 on 2026-10-25 (03:00 CEST becomes 02:00
// CET). A window 01:00-04:00 on those Sundays holds 2h and 4h; on others 3h.
func TestCalendarDST(t *testing.T) {
	c := mustCalendar(t, CalendarConfig{ID: "berlin", Timezone: "Europe/Berlin",
		Hours: map[string]string{"sun": "01:00-04:00", "mon": "09:00-17:00"}})
	utc := func(mo time.Month, d, h, m int) time.Time { return time.Date(2026, mo, d, h, m, 0, 0, time.UTC) }
	for _, tt := range []struct {
		name string
		a, b time.Time
		want time.Duration
	}{
		{"an ordinary sunday", utc(3, 21, 22, 0), utc(3, 22, 22, 0), 3 * time.Hour},
		{"spring forward", utc(3, 28, 23, 0), utc(3, 29, 22, 0), 2 * time.Hour},
		{"fall back", utc(10, 24, 22, 0), utc(10, 25, 23, 0), 4 * time.Hour},
		{"monday in summer time", utc(3, 30, 0, 0), utc(3, 31, 0, 0), 8 * time.Hour},
	} {
		if got := c.Between(tt.a, tt.b); got != tt.want {
			t.Errorf("%s: Between = %v, want %v", tt.name, got, tt.want)
		}
	}
	for _, tt := range []struct {
		name  string
		start time.Time
		d     time.Duration
		want  time.Time
	}{
		// 01:00 CET (00:00 UTC) + 1h reaches 02:00 CET, which is 03:00 CEST;
		// 30 more minutes is 03:30 CEST (01:30 UTC).
		{"spring forward", utc(3, 29, 0, 0), 90 * time.Minute, utc(3, 29, 1, 30)},
		// The 2h of that Sunday are used up: the rest is Monday 09:00 CEST.
		{"spring forward, past the window", utc(3, 29, 0, 0), 2*time.Hour + time.Minute, utc(3, 30, 7, 1)},
		// 01:00 CEST (23:00 UTC the day before) + 3h is 03:00 CET (02:00 UTC):
		// the hour from 02:00 to 03:00 is lived twice.
		{"fall back", utc(10, 24, 23, 0), 3 * time.Hour, utc(10, 25, 2, 0)},
		{"fall back, the whole window", utc(10, 24, 23, 0), 4 * time.Hour, utc(10, 25, 3, 0)},
	} {
		if got := c.Add(tt.start, tt.d); !got.Equal(tt.want) {
			t.Errorf("%s: Add = %v, want %v", tt.name, got, tt.want)
		}
	}
	if !c.Open(utc(10, 25, 1, 30)) { // 02:30 CET, the second time round
		t.Error("02:30 CET on the fall-back Sunday is closed")
	}
	if c.Open(utc(3, 29, 2, 0)) { // 04:00 CEST
		t.Error("04:00 CEST on the spring-forward Sunday is open")
	}
}

// A calendar without business time ahead makes Add return the zero time,
// after looking no further than HorizonDays.
func TestCalendarNeverOpen(t *testing.T) {
	start := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	zero := &Calendar{}
	if got := zero.Add(start, time.Minute); !got.IsZero() {
		t.Errorf("zero Calendar: Add = %v, want the zero time", got)
	}
	if zero.Open(start) || zero.Between(start, start.Add(1000*time.Hour)) != 0 {
		t.Error("zero Calendar is open")
	}
	// Open on one make-up day only.
	once := mustCalendar(t, CalendarConfig{ID: "once", Workdays: []string{"2026-01-04"}, WorkdayHours: "09:00-18:00"})
	if got, want := once.Add(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Hour), time.Date(2026, 1, 4, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Add before the only open day = %v, want %v", got, want)
	}
	if got := once.Add(start, time.Hour); !got.IsZero() {
		t.Errorf("Add after the only open day = %v, want the zero time", got)
	}
	if got := once.Add(time.Date(2026, 1, 4, 17, 0, 0, 0, time.UTC), 2*time.Hour); !got.IsZero() {
		t.Errorf("Add past the only open day's hours = %v, want the zero time", got)
	}
	// Closed for all of 2026: the first hour of 2027 (a Friday) is it.
	closed := mustCalendar(t, CalendarConfig{ID: "closed", Hours: map[string]string{"mon-fri": "09:00-18:00"},
		Holidays: []string{"2026-01-01..2026-12-31"}})
	if got, want := closed.Add(time.Date(2025, 12, 31, 18, 0, 0, 0, time.UTC), time.Hour), time.Date(2027, 1, 1, 10, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Add over a closed year = %v, want %v", got, want)
	}
	// More business time than the horizon holds.
	cn := cnSupport(t)
	if got := cn.Add(start, 12000*time.Hour); !got.IsZero() {
		t.Errorf("Add of 12000h in weeks of 37h30m = %v, want the zero time", got)
	}
}

func TestNilCalendarIs24x7(t *testing.T) {
	var c *Calendar
	start := time.Date(2026, 10, 1, 3, 0, 0, 0, time.UTC) // a holiday, at night: no matter
	if c.ID() != "" || c.Location() != time.UTC || !c.Open(start) {
		t.Errorf("nil calendar: ID %q, Location %v, Open %v", c.ID(), c.Location(), c.Open(start))
	}
	if got := c.Add(start, 90*time.Minute); !got.Equal(start.Add(90 * time.Minute)) {
		t.Errorf("nil Add = %v", got)
	}
	if got := c.Add(start, -time.Hour); !got.Equal(start) {
		t.Errorf("nil Add of a negative duration = %v, want start", got)
	}
	if got := c.Between(start, start.Add(25*time.Hour)); got != 25*time.Hour {
		t.Errorf("nil Between = %v", got)
	}
	if got := c.Between(start, start.Add(-time.Hour)); got != 0 {
		t.Errorf("nil Between backwards = %v", got)
	}
}

// dstSwitches are Europe's DST switches in 2025 and 2026, at 01:00 UTC.
var dstSwitches = []time.Time{
	time.Date(2025, 3, 30, 1, 0, 0, 0, time.UTC), time.Date(2025, 10, 26, 1, 0, 0, 0, time.UTC),
	time.Date(2026, 3, 29, 1, 0, 0, 0, time.UTC), time.Date(2026, 10, 25, 1, 0, 0, 0, time.UTC),
}

// TestCalendarAddBetweenAgree checks, for many random starts and durations,
// that Between undoes Add and that Add never passes the end it is given.
func TestCalendarAddBetweenAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	berlin := mustCalendar(t, CalendarConfig{ID: "berlin", Timezone: "Europe/Berlin",
		Hours:    map[string]string{"mon-fri": "08:00-12:00,13:00-17:30", "sat": "02:30-05:00", "sun": "01:00-02:30,02:40-02:50,03:15-24:00"},
		Holidays: []string{"2026-12-24..2026-12-26"}, Workdays: []string{"2026-12-27"}})
	lo := time.Date(2024, 12, 1, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(2027, 1, 31, 0, 0, 0, 0, time.UTC).Unix()
	for name, c := range map[string]*Calendar{"cn": cnSupport(t), "berlin": berlin} {
		for i := range 3000 {
			a := time.Unix(lo+rng.Int64N(hi-lo), rng.Int64N(1e9)).UTC()
			d := time.Duration(rng.Int64N(int64(200 * time.Hour)))
			if i%2 == 0 { // around a DST switch, with short durations
				a = dstSwitches[rng.IntN(len(dstSwitches))].Add(time.Duration(rng.Int64N(int64(72*time.Hour))) - 48*time.Hour)
				d = time.Duration(rng.Int64N(int64(6 * time.Hour)))
			}
			due := c.Add(a, d)
			if due.IsZero() {
				t.Fatalf("%s: Add(%v, %v) found no due time", name, a, d)
			}
			if got := c.Between(a, due); got != d {
				t.Fatalf("%s: Between(a, Add(a, d)) = %v, want d = %v (a %v, due %v)", name, got, d, a, due)
			}
			if d > 0 && !c.Open(due.Add(-1)) {
				t.Fatalf("%s: Add(%v, %v) = %v, and the instant before it is closed", name, a, d, due)
			}
			b := a.Add(time.Duration(rng.Int64N(int64(400 * time.Hour))))
			back := c.Add(a, c.Between(a, b))
			if back.After(b) || c.Between(back, b) != 0 {
				t.Fatalf("%s: Add(a, Between(a, b)) = %v, past b = %v or with business time left", name, back, b)
			}
		}
	}
}

// BenchmarkCalendarAdd measures a resolution target over National Day.
func BenchmarkCalendarAdd(b *testing.B) {
	cn := cnSupport(b)
	start := time.Date(2026, 9, 30, 9, 0, 0, 0, time.UTC)
	for b.Loop() {
		cn.Add(start, 40*time.Hour)
	}
}
