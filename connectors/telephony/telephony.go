package telephony

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"switchboard/connectors"
	"switchboard/internal/phone"
)

// Connector serves every configured CTI source.
type Connector struct {
	env     connectors.Env
	calls   connectors.Calls
	sources map[string]*Source
	order   []*Source // as configured
	events  *prometheus.CounterVec
}

var (
	_ connectors.Connector = (*Connector)(nil)
	_ connectors.HTTP      = (*Connector)(nil)
	_ connectors.Runner    = (*Connector)(nil)
)

// New builds the connector from its config section, a list of sources.
// The Ingester must keep call records (connectors.Calls).
func New(env connectors.Env, decode func(v any) error) (connectors.Connector, error) {
	var sources []Source
	if err := decode(&sources); err != nil {
		return nil, err
	}
	if env.Log == nil {
		env.Log = slog.Default()
	}
	calls, ok := env.In.(connectors.Calls)
	if !ok {
		return nil, errors.New("the router does not keep call records (connectors.Calls)")
	}
	c := &Connector{env: env, calls: calls, sources: map[string]*Source{},
		events: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "switchboard_cti_events_total",
			Help: "CTI call events, by source, event and outcome (stored, refused, failed)."},
			[]string{"source", "event", "outcome"})}
	var errs []error
	for i := range sources {
		s := &sources[i]
		for _, err := range s.check(env.Region) {
			errs = append(errs, fmt.Errorf("[%d].%w", i, err))
		}
		if c.sources[s.ID] != nil {
			errs = append(errs, fmt.Errorf("[%d].id: %q is used twice", i, s.ID))
		}
		c.sources[s.ID] = s
		c.order = append(c.order, s)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if env.Metrics != nil {
		if err := env.Metrics.Register(c.events); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return c, nil
}

// Channel names the channel.
func (c *Connector) Channel() connectors.Channel { return connectors.CTI }

// Send refuses: a call carries no messages. Agents call the customer back
// and write what was said as a note.
func (c *Connector) Send(context.Context, *connectors.Outbound) (connectors.Receipt, error) {
	return connectors.Receipt{}, fmt.Errorf("%w: the phone channel carries no messages; call the customer back and write a note",
		connectors.ErrUnsupported)
}

// MissedCallTicket reports whether source opens callback tickets for
// missed calls (router.CallPolicy).
func (c *Connector) MissedCallTicket(source string) bool {
	s := c.sources[source]
	return s != nil && s.MissedCallTicket
}

// RingsAgents reports whether source tells which agents a call rings for
// as it rings them: its AMI client sends a ring per extension
// (router.CallPolicy).
func (c *Connector) RingsAgents(source string) bool {
	s := c.sources[source]
	return s != nil && s.AMI != nil
}

// CheckTeams checks the teams the sources name against the configured
// ones (known), for start-up: errors name the key, e.g.
// "[0].numbers[1].team: unknown team \"sales\"".
func (c *Connector) CheckTeams(known func(team string) bool) error {
	var errs []error
	for i, s := range c.order {
		refs := s.teamRefs()
		keys := make([]string, 0, len(refs))
		for k := range refs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if !known(refs[k]) {
				errs = append(errs, fmt.Errorf("[%d].%s: unknown team %q", i, k, refs[k]))
			}
		}
	}
	return errors.Join(errs...)
}

// enrich completes an event of source s: the source, the numbers in
// E.164, the team of the called number.
func (s *Source) enrich(ev connectors.CallEvent) connectors.CallEvent {
	ev.Source = s.ID
	ev.FromE164 = e164(ev.From, s.region)
	ev.ToE164 = e164(ev.To, s.region)
	ev.Team = s.Team
	if ev.Direction != connectors.CallOutbound {
		if t := s.teams[numberKey(ev.To, ev.ToE164, s.region)]; t != "" {
			ev.Team = t
		}
	}
	return ev
}

// e164 normalizes a number a PBX sent. Zammad's PBX scripts write
// international numbers as digits with the country code but without the
// "+" (493023125741): a number of 10 or more digits that is not valid in
// region is tried once more as international.
func e164(raw, region string) string {
	if n := phone.Normalize(raw, region); n != "" {
		return n
	}
	if d := strings.TrimSpace(raw); len(d) >= 10 && d[0] != '0' && strings.Trim(d, "0123456789") == "" {
		return phone.Normalize("+"+d, region)
	}
	return ""
}

// deliver hands an event of source s to the router and counts it.
func (c *Connector) deliver(ctx context.Context, s *Source, ev connectors.CallEvent) error {
	ev = s.enrich(ev)
	if err := c.calls.CallEvent(ctx, ev); err != nil {
		c.events.WithLabelValues(s.ID, string(ev.Type), "failed").Inc()
		return err
	}
	c.events.WithLabelValues(s.ID, string(ev.Type), "stored").Inc()
	return nil
}
