package tickets

import "fmt"

// Priority orders tickets in queues and picks SLA targets.
type Priority string

// Priorities, most urgent first.
const (
	Urgent Priority = "urgent"
	High   Priority = "high"
	Normal Priority = "normal"
	Low    Priority = "low"
)

// ParsePriority checks a priority name; empty means Normal.
func ParsePriority(s string) (Priority, error) {
	switch Priority(s) {
	case "":
		return Normal, nil
	case Urgent, High, Normal, Low:
		return Priority(s), nil
	}
	return "", fmt.Errorf("priority %q is not one of urgent, high, normal, low", s)
}

// Rank is 1 for Urgent to 4 for Low; queues serve lower ranks first.
func (p Priority) Rank() int {
	switch p {
	case Urgent:
		return 1
	case High:
		return 2
	case Low:
		return 4
	}
	return 3
}
