package connectors

import (
	"fmt"
	"sort"
)

// Registry maps channel kinds to factories and, once built, to connectors.
// It is a value, not package state, so tests build registries of their own.
type Registry struct {
	factories map[Channel]Factory
	built     map[Channel]Connector
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[Channel]Factory{}, built: map[Channel]Connector{}}
}

// Register adds a factory for ch. Like sql.Register it panics when ch is
// registered twice, because that is a programming error.
func (r *Registry) Register(ch Channel, f Factory) {
	if f == nil {
		panic("connectors: Register of nil factory for " + string(ch))
	}
	if _, dup := r.factories[ch]; dup {
		panic("connectors: Register called twice for " + string(ch))
	}
	r.factories[ch] = f
}

// Known reports whether a factory is registered for ch.
func (r *Registry) Known(ch Channel) bool {
	_, ok := r.factories[ch]
	return ok
}

// Build constructs a connector for every configured section. sections maps
// a channel to the decoder of its config section.
func (r *Registry) Build(env Env, sections map[Channel]func(v any) error) error {
	names := make([]string, 0, len(sections))
	for ch := range sections {
		names = append(names, string(ch))
	}
	sort.Strings(names)
	for _, name := range names {
		ch := Channel(name)
		f, ok := r.factories[ch]
		if !ok {
			return fmt.Errorf("channels.%s: unknown channel kind", ch)
		}
		env := env
		if env.Log != nil {
			env.Log = env.Log.With("channel", string(ch))
		}
		c, err := f(env, sections[ch])
		if err != nil {
			return fmt.Errorf("channels.%s: %w", ch, err)
		}
		r.built[ch] = c
	}
	return nil
}

// Add puts an already built connector in the registry, for tests and for
// connectors that need no configuration.
func (r *Registry) Add(c Connector) { r.built[c.Channel()] = c }

// Get returns the built connector for ch.
func (r *Registry) Get(ch Channel) (Connector, bool) {
	c, ok := r.built[ch]
	return c, ok
}

// All returns the built connectors in a stable order.
func (r *Registry) All() []Connector {
	out := make([]Connector, 0, len(r.built))
	for _, c := range r.built {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Channel() < out[j].Channel() })
	return out
}
