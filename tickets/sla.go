package tickets

import (
	"fmt"
	"time"
)

// SLAPolicy sets response targets for tickets of one priority.
type SLAPolicy struct {
	Name          string        `yaml:"name"`
	Priority      Priority      `yaml:"priority"`
	FirstResponse time.Duration `yaml:"first_response"`
	Resolution    time.Duration `yaml:"resolution"`
}

// Validate checks a policy.
func (p *SLAPolicy) Validate() error {
	if _, err := ParsePriority(string(p.Priority)); err != nil {
		return fmt.Errorf("priority: %w", err)
	}
	if p.FirstResponse < 0 || p.Resolution < 0 {
		return fmt.Errorf("durations must not be negative")
	}
	return nil
}

// Due returns the first-response and resolution due times of a ticket of
// priority p opened at t under policies; zero times mean no target.
func Due(policies []SLAPolicy, p Priority, t time.Time) (firstResponse, resolve time.Time) {
	for _, pol := range policies {
		if pol.Priority == p || (pol.Priority == "" && p == Normal) {
			if pol.FirstResponse > 0 {
				firstResponse = t.Add(pol.FirstResponse)
			}
			if pol.Resolution > 0 {
				resolve = t.Add(pol.Resolution)
			}
			return firstResponse, resolve
		}
	}
	return time.Time{}, time.Time{}
}
