package tickets

import (
	"bytes"
	"embed"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

// holidayFS holds the built-in holiday sets, one file per set: cn.yaml is
// the set "cn". Each file says where its dates come from and how to add a
// year.
//
//go:embed holidays/*.yaml
var holidayFS embed.FS

// holidayFile is the format of a built-in holiday set.
type holidayFile struct {
	Name  string `yaml:"name"`
	Years []struct {
		Year     int      `yaml:"year"`
		Source   string   `yaml:"source"`
		Holidays []string `yaml:"holidays"`
		Workdays []string `yaml:"workdays"`
	} `yaml:"years"`
}

// holidays is a built-in set, as day numbers.
type holidays struct {
	name               string
	years              []int
	holidays, workdays []int
}

// builtinHolidays reads the embedded sets once.
var builtinHolidays = sync.OnceValues(func() (map[string]*holidays, error) {
	entries, err := holidayFS.ReadDir("holidays")
	if err != nil {
		return nil, fmt.Errorf("tickets: built-in holidays: %w", err)
	}
	sets := map[string]*holidays{}
	for _, e := range entries {
		data, err := holidayFS.ReadFile("holidays/" + e.Name())
		if err != nil {
			return nil, fmt.Errorf("tickets: built-in holidays: %w", err)
		}
		set, err := parseHolidays(data)
		if err != nil {
			return nil, fmt.Errorf("tickets: built-in holidays %s: %w", e.Name(), err)
		}
		sets[strings.TrimSuffix(e.Name(), path.Ext(e.Name()))] = set
	}
	return sets, nil
})

// parseHolidays reads and checks one holiday file: every date parses and
// falls in its year, no year is listed twice, and no day is both a holiday
// and a workday.
func parseHolidays(data []byte) (*holidays, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var f holidayFile
	if err := dec.Decode(&f); err != nil {
		return nil, err
	}
	set := &holidays{name: f.Name}
	for _, y := range f.Years {
		if slices.Contains(set.years, y.Year) {
			return nil, fmt.Errorf("year %d is listed twice", y.Year)
		}
		set.years = append(set.years, y.Year)
		off, err := daysOfYear(y.Holidays, y.Year)
		if err != nil {
			return nil, fmt.Errorf("%d holidays: %w", y.Year, err)
		}
		on, err := daysOfYear(y.Workdays, y.Year)
		if err != nil {
			return nil, fmt.Errorf("%d workdays: %w", y.Year, err)
		}
		for _, n := range on {
			if slices.Contains(off, n) {
				return nil, fmt.Errorf("%d: %s is both a holiday and a workday", y.Year, formatDay(n))
			}
		}
		set.holidays = append(set.holidays, off...)
		set.workdays = append(set.workdays, on...)
	}
	return set, nil
}

// daysOfYear reads dates and ranges that must fall in year.
func daysOfYear(list []string, year int) ([]int, error) {
	var days []int
	for _, s := range list {
		first, last, err := parseDates(s)
		if err != nil {
			return nil, err
		}
		if y1, _, _ := civil(first); y1 != year {
			return nil, fmt.Errorf("%q is not in %d", s, year)
		}
		if y2, _, _ := civil(last); y2 != year {
			return nil, fmt.Errorf("%q is not in %d", s, year)
		}
		for n := first; n <= last; n++ {
			days = append(days, n)
		}
	}
	return days, nil
}

// holidaySet returns the built-in set name.
func holidaySet(name string) (*holidays, error) {
	sets, err := builtinHolidays()
	if err != nil {
		return nil, err
	}
	set, ok := sets[name]
	if !ok {
		return nil, fmt.Errorf("unknown holiday set %q (known: %s)", name, strings.Join(HolidaySets(), ", "))
	}
	return set, nil
}

// HolidaySets lists the names of the built-in holiday sets a calendar can
// include, sorted.
func HolidaySets() []string {
	sets, _ := builtinHolidays()
	names := make([]string, 0, len(sets))
	for name := range sets {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// HolidayYears returns the years the built-in set name covers, in file
// order (nil for an unknown set): a year missing from it has no holidays
// from the set.
func HolidayYears(name string) []int {
	set, err := holidaySet(name)
	if err != nil {
		return nil
	}
	return slices.Clone(set.years)
}
