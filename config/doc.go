// Package config loads and strictly decodes Switchboard's YAML configuration.
//
// Decode and DecodeBytes fill Go values from YAML much as yaml.v3 does, but
// they refuse rather than guess: an unknown key, a duplicate key, a list
// where a mapping belongs or a value that does not convert to its field's
// type fails start-up, and every error names the key's path and line:
//
//	channels.email[0].imap.adr: unknown key (line 12)
//	agents[1].capacity: must be a whole number, got "five" (line 20)
//
// All errors of a document are reported at once, joined with errors.Join,
// in the order they appear in the file; each is a *PathError.
//
// # Paths
//
// A path joins mapping keys with dots and list indexes with brackets. A map
// key that holds a dot, a bracket, a quote, a space or nothing is quoted:
// teams["first.line"].
//
// # Destinations
//
// Struct fields are matched by their `yaml:"name"` tag, untagged exported
// fields by their lower-cased Go name; `yaml:"-"` and unexported fields are
// never set, and a struct field tagged `yaml:",inline"` contributes its own
// fields. Keys absent from the document leave their fields as they were, so
// defaults can be filled in before decoding. Null leaves a value as it was,
// except that it sets pointers, maps, slices and interfaces to nil.
//
// Scalars convert strictly: bools are true or false; integers are whole and
// in range (Go syntax: 0x, 0o, 0b, a leading 0 for octal, _ between
// digits); floats are numbers or .inf, never NaN; a time.Duration is written
// like "30s", "5m" or "1h30m", and 0 is the only bare number allowed.
//
// Maps need string keys. An empty interface receives map[string]any, []any
// and yaml.v3's scalars. Types with an UnmarshalYAML method (yaml.Unmarshaler)
// decode themselves, and types with an UnmarshalText method take a scalar.
//
// Anchors, aliases and "<<" merge keys work; an alias to a value that
// contains it, or a document that expands to more than a million values
// (an alias bomb), is an error.
//
// # Sections decoded later
//
// A field of type yaml.Node or *yaml.Node is not decoded: it keeps the raw
// section, so that a plugin can decode it later with its own type and still
// report full paths:
//
//	err := config.Decode(&cfg.Channels.Webchat, &webchat, "channels.webchat")
//
// # Validation
//
// After a value decoded without errors, if a pointer to it has a method
// Validate() error, that method is called and its errors are reported at
// the value's path. A *PathError it returns (alone or joined with
// errors.Join) has a Path relative to the value, e.g. "port", which is
// appended to the value's path; other errors are reported at the value's
// path as they are.
package config
