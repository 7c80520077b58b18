package session

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// Role says what an agent may do.
type Role string

// Roles, from least to most powerful.
const (
	RoleAgent      Role = "agent"
	RoleSupervisor Role = "supervisor"
	RoleAdmin      Role = "admin"
)

// Agent is a person who answers customers.
type Agent struct {
	ID        string   `json:"id" yaml:"id"`
	Email     string   `json:"email" yaml:"email"`
	Name      string   `json:"name" yaml:"name"`
	Role      Role     `json:"role" yaml:"role"`
	Teams     []string `json:"teams" yaml:"teams"`
	Skills    []string `json:"skills" yaml:"skills"`
	Capacity  int      `json:"capacity" yaml:"capacity"`
	Extension string   `json:"extension,omitempty" yaml:"extension"`
	// Password is a bcrypt hash, or plain text in the config (hashed at
	// start-up). It never leaves the server.
	Password string `json:"-" yaml:"password"`
}

// Supervises reports whether the agent may act on any conversation.
func (a *Agent) Supervises() bool { return a.Role == RoleSupervisor || a.Role == RoleAdmin }

// InTeam reports whether the agent belongs to team.
func (a *Agent) InTeam(team string) bool { return contains(a.Teams, team) }

// HasSkills reports whether the agent has every skill in need.
func (a *Agent) HasSkills(need []string) bool {
	for _, s := range need {
		if !contains(a.Skills, s) {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Team is a group of agents that conversations are routed to.
type Team struct {
	ID     string   `json:"id" yaml:"id"`
	Name   string   `json:"name" yaml:"name"`
	Skills []string `json:"skills" yaml:"skills"`
	// Calendar names the team's business-hours calendar (config
	// `calendars:`), which SLA policies with business_hours count in.
	Calendar string `json:"calendar,omitempty" yaml:"calendar"`
}

var idPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// ValidID reports whether s may be an agent or team id.
func ValidID(s string) bool { return idPattern.MatchString(s) }

// Validate checks an agent record; teams lists the known team ids.
func (a *Agent) Validate() error {
	var errs []error
	if !ValidID(a.ID) {
		errs = append(errs, fmt.Errorf("id: %q is not a valid id (letters, digits, _ . -)", a.ID))
	}
	if !strings.Contains(a.Email, "@") {
		errs = append(errs, fmt.Errorf("email: %q is not an e-mail address", a.Email))
	}
	switch a.Role {
	case "", RoleAgent, RoleSupervisor, RoleAdmin:
	default:
		errs = append(errs, fmt.Errorf("role: %q is not one of agent, supervisor, admin", a.Role))
	}
	if a.Capacity < 0 || a.Capacity > 1000 {
		errs = append(errs, fmt.Errorf("capacity: %d is outside 0–1000", a.Capacity))
	}
	if a.Password == "" {
		errs = append(errs, errors.New("password: required"))
	}
	return errors.Join(errs...)
}

// normalize fills defaults.
func (a *Agent) normalize() {
	a.Email = strings.ToLower(strings.TrimSpace(a.Email))
	if a.Role == "" {
		a.Role = RoleAgent
	}
	if a.Name == "" {
		a.Name = a.ID
	}
	if a.Teams == nil {
		a.Teams = []string{}
	}
	if a.Skills == nil {
		a.Skills = []string{}
	}
}
