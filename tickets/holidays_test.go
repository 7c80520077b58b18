package tickets

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestChinaHolidays checks the embedded data against the State Council
// notices (国务院办公厅关于2025年/2026年部分节假日安排的通知): the number
// of days off of each year, and every make-up working day with the weekday
// the notice gives for it.
func TestChinaHolidays(t *testing.T) {
	if got := HolidaySets(); !slices.Contains(got, "cn") {
		t.Fatalf("HolidaySets() = %v, want cn among them", got)
	}
	set, err := holidaySet("cn")
	if err != nil {
		t.Fatal(err)
	}
	if got := HolidayYears("cn"); !slices.Equal(got, []int{2025, 2026}) {
		t.Errorf("HolidayYears(cn) = %v, want [2025 2026]", got)
	}
	off := map[int]int{} // year → days off
	for _, n := range set.holidays {
		y, _, _ := civil(n)
		off[y]++
	}
	// 2025: 1 + 8 + 3 + 5 + 3 + 8; 2026: 3 + 9 + 3 + 5 + 3 + 3 + 7.
	if off[2025] != 28 || off[2026] != 33 || len(off) != 2 {
		t.Errorf("days off by year = %v, want 2025: 28, 2026: 33", off)
	}
	workdays := map[string]time.Weekday{
		"2025-01-26": time.Sunday, "2025-02-08": time.Saturday, "2025-04-27": time.Sunday,
		"2025-09-28": time.Sunday, "2025-10-11": time.Saturday,
		"2026-01-04": time.Sunday, "2026-02-14": time.Saturday, "2026-02-28": time.Saturday,
		"2026-05-09": time.Saturday, "2026-09-20": time.Sunday, "2026-10-10": time.Saturday,
	}
	var got []string
	for _, n := range set.workdays {
		got = append(got, formatDay(n))
		if want, ok := workdays[formatDay(n)]; !ok || weekday(n) != want {
			t.Errorf("make-up day %s is a %v; the notice has %v", formatDay(n), weekday(n), want)
		}
	}
	if len(got) != len(workdays) {
		t.Errorf("make-up days %v, want the %d of the notices", got, len(workdays))
	}
	for _, tt := range []struct {
		day string
		off bool
	}{
		{"2025-01-01", true}, {"2025-01-28", true}, {"2025-02-04", true}, {"2025-02-05", false},
		{"2025-05-31", true}, {"2025-06-02", true}, {"2025-10-08", true}, {"2025-10-09", false},
		{"2026-01-03", true}, {"2026-02-15", true}, {"2026-02-23", true}, {"2026-02-24", false},
		{"2026-06-19", true}, {"2026-09-25", true}, {"2026-10-01", true}, {"2026-10-07", true}, {"2026-10-08", false},
	} {
		n, _ := date(tt.day)
		if slices.Contains(set.holidays, n) != tt.off {
			t.Errorf("%s off = %v, want %v", tt.day, !tt.off, tt.off)
		}
	}
	if HolidayYears("jp") != nil {
		t.Error("HolidayYears of an unknown set is not nil")
	}
}

func TestParseHolidaysErrors(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{"years: [{year: 2026, holidays: [2025-12-31]}]", `2026 holidays: "2025-12-31" is not in 2026`},
		{"years: [{year: 2026, holidays: [2026-12-31..2027-01-01]}]", `2026 holidays: "2026-12-31..2027-01-01" is not in 2026`},
		{"years: [{year: 2026, workdays: [2026-1-4]}]", `2026 workdays: "2026-1-4" is not a date`},
		{"years: [{year: 2026, holidays: [2026-10-01..2026-10-07], workdays: [2026-10-07]}]", "2026: 2026-10-07 is both a holiday and a workday"},
		{"years: [{year: 2026}, {year: 2026}]", "year 2026 is listed twice"},
		{"years: [{year: 2026, holiday: [2026-10-01]}]", "field holiday not found"},
	} {
		_, err := parseHolidays([]byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parseHolidays(%s) = %v, want an error with %q", tt.doc, err, tt.want)
		}
	}
}
