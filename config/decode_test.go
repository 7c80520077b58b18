package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// The types below stand for a Switchboard configuration: the real one is
// declared elsewhere, these exercise every kind of destination.

type imapConfig struct {
	Addr string        `yaml:"addr"`
	User string        `yaml:"user"`
	Poll time.Duration `yaml:"poll"`
	TLS  *bool         `yaml:"tls"`
}

type emailChannel struct {
	Name string     `yaml:"name"`
	IMAP imapConfig `yaml:"imap"`
}

type channelsConfig struct {
	Email   []emailChannel `yaml:"email"`
	Webchat yaml.Node      `yaml:"webchat"` // decoded later by its plugin
	Wechat  *yaml.Node     `yaml:"wechat"`
}

type agentConfig struct {
	ID       string   `yaml:"id"`
	Capacity int      `yaml:"capacity"`
	Skills   []string `yaml:"skills"`
	Level    level    `yaml:"level"`
	Role     role     `yaml:"role"`
}

type teamConfig struct {
	Name   string   // untagged: "name"
	Skills []string // untagged: "skills"
}

type common struct {
	Region string `yaml:"region"`
	Debug  bool   `yaml:"debug"`
}

type testConfig struct {
	common   `yaml:",inline"`
	Listen   string                   `yaml:"listen"`
	Workers  uint8                    `yaml:"workers"`
	Offset   int16                    `yaml:"offset"`
	Ratio    float64                  `yaml:"ratio"`
	Trusted  []netip.Prefix           `yaml:"trusted"`
	Channels channelsConfig           `yaml:"channels"`
	Agents   []agentConfig            `yaml:"agents"`
	Teams    map[string]teamConfig    `yaml:"teams"`
	Timeouts map[string]time.Duration `yaml:"timeouts"`
	Limit    *int                     `yaml:"limit"`
	Extra    any                      `yaml:"extra"`
	Server   *listener                `yaml:"server"`
	Secret   string                   `yaml:"-"`
	internal string
}

// level decodes itself (yaml.Unmarshaler).
type level int

func (l *level) UnmarshalYAML(n *yaml.Node) error {
	switch n.Value {
	case "low":
		*l = 1
	case "high":
		*l = 2
	default:
		return fmt.Errorf("must be low or high, got %q", n.Value)
	}
	return nil
}

// role validates itself with a plain error and a value receiver.
type role string

func (r role) Validate() error {
	if r != "" && r != "agent" && r != "admin" {
		return fmt.Errorf("must be agent or admin, got %q", string(r))
	}
	return nil
}

// listener validates itself with relative *PathErrors.
type listener struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
}

func (l *listener) Validate() error {
	var errs []error
	if l.Host == "" {
		errs = append(errs, &PathError{Path: "host", Msg: "required"})
	}
	if l.Port < 1 || l.Port > 65535 {
		errs = append(errs, &PathError{Path: "port", Msg: fmt.Sprintf("must be from 1 to 65535, got %d", l.Port)})
	}
	return errors.Join(errs...)
}

// webchatConfig is what the web chat plugin decodes its raw section into.
type webchatConfig struct {
	Greeting string         `yaml:"greeting"`
	Idle     time.Duration  `yaml:"idle"`
	Origins  []string       `yaml:"origins"`
	Limits   map[string]int `yaml:"limits"`
}

const fullDoc = `# a whole configuration
region: eu
debug: true
listen: ":8080"
workers: 0x10
offset: -300
ratio: 0.75
trusted: [10.0.0.0/8, "192.168.0.0/16"]
defaults: &imapdefaults
  poll: 1m
  tls: true
channels:
  email:
    - name: support
      imap:
        <<: *imapdefaults
        addr: imap.example.com:993
        user: support
    - name: sales
      imap:
        <<: *imapdefaults
        addr: imap.example.com:993
        poll: 30s
  webchat:
    greeting: Hello!
    idle: 5m
    origins: [https://example.com]
  wechat: {appid: wx123}
agents:
  - id: a1
    capacity: 5
    skills: &general [general]
    level: low
    role: agent
  - id: a2
    capacity: 3
    skills: *general
    level: high
teams:
  support: {name: Support, skills: [general, billing]}
  first.line: {name: First line}
timeouts:
  idle: 1h30m
  none: 0
limit: 42
extra: {a: 1, b: [x, 2.5, true, null]}
server: {host: 0.0.0.0, port: 8443}
`

func TestDecodeBytesSuccess(t *testing.T) {
	// The document's "defaults" key only holds an anchor: keep it raw.
	type withDefaults struct {
		testConfig `yaml:",inline"`
		Defaults   yaml.Node `yaml:"defaults"`
	}
	var got withDefaults
	got.Secret, got.internal = "kept", "kept" // never set
	got.Listen = "overwritten"
	if err := DecodeBytes([]byte(fullDoc), &got); err != nil {
		t.Fatalf("DecodeBytes: %v", err)
	}
	yes, limit := true, 42
	want := testConfig{
		common:  common{Region: "eu", Debug: true},
		Listen:  ":8080",
		Workers: 16,
		Offset:  -300,
		Ratio:   0.75,
		Trusted: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.0/16")},
		Channels: channelsConfig{Email: []emailChannel{
			{Name: "support", IMAP: imapConfig{Addr: "imap.example.com:993", User: "support", Poll: time.Minute, TLS: &yes}},
			{Name: "sales", IMAP: imapConfig{Addr: "imap.example.com:993", Poll: 30 * time.Second, TLS: &yes}},
		}},
		Agents: []agentConfig{
			{ID: "a1", Capacity: 5, Skills: []string{"general"}, Level: 1, Role: "agent"},
			{ID: "a2", Capacity: 3, Skills: []string{"general"}, Level: 2},
		},
		Teams: map[string]teamConfig{
			"support":    {Name: "Support", Skills: []string{"general", "billing"}},
			"first.line": {Name: "First line"},
		},
		Timeouts: map[string]time.Duration{"idle": 90 * time.Minute, "none": 0},
		Limit:    &limit,
		Extra:    map[string]any{"a": 1, "b": []any{"x", 2.5, true, nil}},
		Server:   &listener{Host: "0.0.0.0", Port: 8443},
		Secret:   "kept",
		internal: "kept",
	}
	// The raw sections are checked below; compare the rest.
	webchat, wechat := got.Channels.Webchat, got.Channels.Wechat
	got.Channels.Webchat, got.Channels.Wechat = yaml.Node{}, nil
	if !reflect.DeepEqual(got.testConfig, want) {
		t.Errorf("decoded\n%#v\nwant\n%#v", got.testConfig, want)
	}

	if webchat.Kind != yaml.MappingNode || webchat.Line != 25 {
		t.Fatalf("webchat kept as kind %v at line %d, want a mapping at line 25", webchat.Kind, webchat.Line)
	}
	var wc webchatConfig
	if err := Decode(&webchat, &wc, "channels.webchat"); err != nil {
		t.Fatalf("decode webchat: %v", err)
	}
	wantWC := webchatConfig{Greeting: "Hello!", Idle: 5 * time.Minute, Origins: []string{"https://example.com"}}
	if !reflect.DeepEqual(wc, wantWC) {
		t.Errorf("webchat = %#v, want %#v", wc, wantWC)
	}
	if wechat == nil || wechat.Kind != yaml.MappingNode || len(wechat.Content) != 2 || wechat.Content[1].Value != "wx123" {
		t.Errorf("wechat kept as %#v, want the mapping {appid: wx123}", wechat)
	}
}

// successCases are documents that decode; the fuzzer starts from them too.
var successCases = []struct {
	name string
	doc  string
	into func() any // returns a pointer, possibly pre-filled
	want any        // what the pointer points to afterwards
}{
	{
		name: "empty document leaves the value untouched",
		doc:  "# only a comment\n",
		into: func() any { return &agentConfig{ID: "x", Capacity: 2} },
		want: agentConfig{ID: "x", Capacity: 2},
	},
	{
		name: "absent keys keep their values",
		doc:  "id: a2\n",
		into: func() any { return &agentConfig{ID: "x", Capacity: 4} },
		want: agentConfig{ID: "a2", Capacity: 4},
	},
	{
		name: "null document leaves a struct untouched",
		doc:  "~\n",
		into: func() any { return &agentConfig{ID: "x"} },
		want: agentConfig{ID: "x"},
	},
	{
		name: "null sets pointers, slices and maps to nil and leaves the rest",
		doc:  "addr:\nuser: ~\npoll: null\ntls: ~\n",
		into: func() any {
			yes := true
			return &imapConfig{Addr: "a", User: "u", Poll: time.Second, TLS: &yes}
		},
		want: imapConfig{Addr: "a", User: "u", Poll: time.Second},
	},
	{
		name: "pointer to pointer and to slice",
		doc:  "[1, 2]\n",
		into: func() any { return new(**[]int) },
		want: ptr(&[]int{1, 2}),
	},
	{
		name: "integer syntaxes and limits",
		doc:  "[0x7f, -128, 0o17, 0b101, 1_000, 017, +3]\n",
		into: func() any { return new([]int16) },
		want: []int16{127, -128, 15, 5, 1000, 15, 3},
	},
	{
		name: "unsigned limits",
		doc:  "[0, 255, '7']\n",
		into: func() any { return new([]uint8) },
		want: []uint8{0, 255, 7},
	},
	{
		name: "floats",
		doc:  "[1, -2.5, 1e3, .inf, -.Inf, \"3.25\"]\n",
		into: func() any { return new([]float32) },
		want: []float32{1, -2.5, 1000, float32(math.Inf(1)), float32(math.Inf(-1)), 3.25},
	},
	{
		name: "bools",
		doc:  "[true, True, FALSE, \"false\"]\n",
		into: func() any { return new([]bool) },
		want: []bool{true, true, false, false},
	},
	{
		name: "any scalar is a string",
		doc:  "[5, true, 1.5, 'x', 2026-01-02]\n",
		into: func() any { return new([]string) },
		want: []string{"5", "true", "1.5", "x", "2026-01-02"},
	},
	{
		name: "durations",
		doc:  "{a: 30s, b: 5m, c: 1h30m, d: 0, e: -1.5h, f: 250ms}\n",
		into: func() any { return new(map[string]time.Duration) },
		want: map[string]time.Duration{"a": 30 * time.Second, "b": 5 * time.Minute, "c": 90 * time.Minute,
			"d": 0, "e": -90 * time.Minute, "f": 250 * time.Millisecond},
	},
	{
		name: "map keys of a named string type and existing entries",
		doc:  "{admin: 1, agent: 2}\n",
		into: func() any { return &map[role]int{"old": 9} },
		want: map[role]int{"old": 9, "admin": 1, "agent": 2},
	},
	{
		name: "anchors and aliases of scalars, lists and mappings",
		doc:  "a: &s hello\nb: *s\nc: &l [1, 2]\nd: *l\ne: &m {x: 1}\nf: *m\n",
		into: func() any { return new(map[string]any) },
		want: map[string]any{"a": "hello", "b": "hello", "c": []any{1, 2}, "d": []any{1, 2},
			"e": map[string]any{"x": 1}, "f": map[string]any{"x": 1}},
	},
	{
		name: "merge keys: own keys win, then earlier merges",
		doc:  "a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc: {<<: [*b, *a], x: 3}\n",
		into: func() any { return new(map[string]map[string]int) },
		want: map[string]map[string]int{"a": {"x": 1, "y": 1}, "b": {"y": 2, "z": 2}, "c": {"x": 3, "y": 2, "z": 2}},
	},
	{
		name: "inline struct fields",
		doc:  "region: eu\ndebug: true\nlisten: ':80'\n",
		into: func() any { return new(testConfig) },
		want: testConfig{common: common{Region: "eu", Debug: true}, Listen: ":80"},
	},
	{
		name: "exported inline struct and untagged fields",
		doc:  "name: Support\nskills: [a]\nregion: us\n",
		into: func() any {
			return new(struct {
				teamConfig `yaml:",inline"`
				Common     common `yaml:",inline"`
			})
		},
		want: struct {
			teamConfig `yaml:",inline"`
			Common     common `yaml:",inline"`
		}{teamConfig{Name: "Support", Skills: []string{"a"}}, common{Region: "us"}},
	},
	{
		name: "unmarshaler and text unmarshaler",
		doc:  "{level: high, addr: '::1'}\n",
		into: func() any {
			return new(struct {
				Level level      `yaml:"level"`
				Addr  netip.Addr `yaml:"addr"`
			})
		},
		want: struct {
			Level level      `yaml:"level"`
			Addr  netip.Addr `yaml:"addr"`
		}{2, netip.MustParseAddr("::1")},
	},
}

func TestDecodeSuccessCases(t *testing.T) {
	for _, tt := range successCases {
		t.Run(tt.name, func(t *testing.T) {
			dst := tt.into()
			if err := DecodeBytes([]byte(tt.doc), dst); err != nil {
				t.Fatalf("DecodeBytes: %v", err)
			}
			if got := reflect.ValueOf(dst).Elem().Interface(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decoded %#v, want %#v", got, tt.want)
			}
		})
	}
}

// errorCases are documents that fail with exactly the error want; the
// fuzzer starts from them too.
var errorCases = []struct {
	name string
	doc  string
	into any // a pointer
	want string
}{
	{
		name: "unknown key deep in a list",
		doc:  "channels:\n  email:\n    - name: support\n      imap:\n        adr: x\n",
		into: new(testConfig),
		want: "channels.email[0].imap.adr: unknown key (line 5)",
	},
	{
		name: "unknown key at the root",
		doc:  "listen: ':80'\nlsiten: ':81'\n",
		into: new(testConfig),
		want: "lsiten: unknown key (line 2)",
	},
	{
		name: "skipped and unexported fields are unknown keys",
		doc:  "secret: x\ninternal: y\n",
		into: new(testConfig),
		want: "secret: unknown key (line 1)\ninternal: unknown key (line 2)",
	},
	{
		name: "bad int",
		doc:  "agents:\n  - id: a1\n    capacity: 5\n  - id: a2\n    capacity: five\n",
		into: new(testConfig),
		want: `agents[1].capacity: must be a whole number, got "five" (line 5)`,
	},
	{
		name: "int must be whole",
		doc:  "agents: [{capacity: 1.5}]\n",
		into: new(testConfig),
		want: `agents[0].capacity: must be a whole number, got "1.5" (line 1)`,
	},
	{
		name: "int overflow",
		doc:  "offset: 40000\n",
		into: new(testConfig),
		want: `offset: must be a whole number from -32768 to 32767, got "40000" (line 1)`,
	},
	{
		name: "negative unsigned",
		doc:  "workers: -1\n",
		into: new(testConfig),
		want: `workers: must be a whole number from 0 to 255, got "-1" (line 1)`,
	},
	{
		name: "unsigned overflow",
		doc:  "workers: 256\n",
		into: new(testConfig),
		want: `workers: must be a whole number from 0 to 255, got "256" (line 1)`,
	},
	{
		name: "bad bool",
		doc:  "debug: yes\n",
		into: new(testConfig),
		want: `debug: must be true or false, got "yes" (line 1)`,
	},
	{
		name: "bad float and NaN",
		doc:  "[abc, .nan, 1e999]\n",
		into: new([]float64),
		want: "[0]: must be a number, got \"abc\" (line 1)\n" +
			"[1]: must be a number, got \".nan\" (line 1)\n" +
			`[2]: number too large, got "1e999" (line 1)`,
	},
	{
		name: "bare number as duration",
		doc:  "channels:\n  email:\n    - imap: {poll: 30}\n",
		into: new(testConfig),
		want: `channels.email[0].imap.poll: must be a duration with a unit, like "30s" or "5m", got "30" (line 3)`,
	},
	{
		name: "bad duration",
		doc:  "timeouts:\n  idle: soon\n",
		into: new(testConfig),
		want: `timeouts.idle: must be a duration like "30s", "5m" or "1h30m", got "soon" (line 2)`,
	},
	{
		name: "map key with a dot, a space and nothing",
		doc:  "timeouts:\n  first.line: x\n  a b: y\n  '': z\n",
		into: new(testConfig),
		want: `timeouts["first.line"]: must be a duration like "30s", "5m" or "1h30m", got "x" (line 2)` + "\n" +
			`timeouts["a b"]: must be a duration like "30s", "5m" or "1h30m", got "y" (line 3)` + "\n" +
			`timeouts[""]: must be a duration like "30s", "5m" or "1h30m", got "z" (line 4)`,
	},
	{
		name: "map key with a dot at the root",
		doc:  "a.b: 1\n",
		into: new(map[string]bool),
		want: `["a.b"]: must be true or false, got "1" (line 1)`,
	},
	{
		name: "duplicate key",
		doc:  "teams:\n  support: {name: A}\n  sales: {name: B}\n  support: {name: C}\n",
		into: new(testConfig),
		want: "teams.support: duplicate key, first defined on line 2 (line 4)",
	},
	{
		name: "duplicate field",
		doc:  "listen: a\nregion: x\nlisten: b\n",
		into: new(testConfig),
		want: "listen: duplicate key, first defined on line 1 (line 3)",
	},
	{
		name: "mapping where a list is expected",
		doc:  "agents:\n  id: a1\n",
		into: new(testConfig),
		want: "agents: expected a list, found a mapping (line 2)",
	},
	{
		name: "scalar where a mapping is expected",
		doc:  "channels:\n  email:\n    - imap: imap.example.com\n",
		into: new(testConfig),
		want: `channels.email[0].imap: expected a mapping, found "imap.example.com" (line 3)`,
	},
	{
		name: "list where a scalar is expected",
		doc:  "listen: [a]\ndebug: {}\nworkers: []\nratio: {}\ntimeouts: {a: []}\n",
		into: new(testConfig),
		want: "listen: expected a string, found a list (line 1)\n" +
			"debug: expected true or false, found a mapping (line 2)\n" +
			"workers: expected a whole number, found a list (line 3)\n" +
			"ratio: expected a number, found a mapping (line 4)\n" +
			"timeouts.a: expected a duration, found a list (line 5)",
	},
	{
		name: "mapping as a key",
		doc:  "? {a: 1}\n: x\n",
		into: new(map[string]string),
		want: "expected a string key, found a mapping (line 1)",
	},
	{
		name: "long values are cut to 40 characters",
		doc:  "workers: " + strings.Repeat("9", 50) + "\n",
		into: new(testConfig),
		want: `workers: must be a whole number from 0 to 255, got "` + strings.Repeat("9", 40) + `…" (line 1)`,
	},
	{
		name: "multiple errors sorted by position",
		doc: "agents:\n  - id: a1\n    capacity: x\n  - id: a2\n    nmae: b\n" +
			"listen: [x]\nregion: eu\nbogus: 1\n",
		into: new(testConfig),
		want: `agents[0].capacity: must be a whole number, got "x" (line 3)` + "\n" +
			"agents[1].nmae: unknown key (line 5)\n" +
			"listen: expected a string, found a list (line 6)\n" +
			"bogus: unknown key (line 8)",
	},
	{
		name: "validate with relative path errors",
		doc:  "server:\n  host: ''\n  port: 70000\n",
		into: new(testConfig),
		want: "server.host: required (line 2)\nserver.port: must be from 1 to 65535, got 70000 (line 3)",
	},
	{
		name: "validate of an absent field points at its parent",
		doc:  "region: eu\nserver:\n  port: 80\n",
		into: new(testConfig),
		want: "server.host: required (line 3)",
	},
	{
		name: "validate with a plain error",
		doc:  "agents:\n  - id: a1\n  - id: a2\n    role: boss\n",
		into: new(testConfig),
		want: `agents[1].role: must be agent or admin, got "boss" (line 4)`,
	},
	{
		name: "validate is skipped after decoding errors",
		doc:  "server: {host: x, port: eighty}\n",
		into: new(testConfig),
		want: `server.port: must be a whole number, got "eighty" (line 1)`,
	},
	{
		name: "unmarshaler error",
		doc:  "agents: [{level: medium}]\n",
		into: new(testConfig),
		want: `agents[0].level: must be low or high, got "medium" (line 1)`,
	},
	{
		name: "unmarshaler using yaml.v3 decoding",
		doc:  "plugins:\n  - {url: x, retries: abc}\n",
		into: new(struct {
			Plugins []lenient `yaml:"plugins"`
		}),
		want: "plugins[0]: line 2: cannot unmarshal !!str `abc` into int (line 2)",
	},
	{
		name: "generic scalar with a bad tag",
		doc:  "extra: {a: !!int abc}\n",
		into: new(testConfig),
		want: "extra.a: cannot decode !!str `abc` as a !!int (line 1)",
	},
	{
		name: "text unmarshaler error",
		doc:  "trusted: [10.0.0.0/33]\n",
		into: new(testConfig),
		want: `trusted[0]: netip.ParsePrefix("10.0.0.0/33"): prefix length out of range (line 1)`,
	},
	{
		name: "bad merge",
		doc:  "teams:\n  a:\n    <<: 5\n",
		into: new(testConfig),
		want: `teams.a.<<: expected a mapping or a list of mappings to merge, found "5" (line 3)`,
	},
	{
		name: "errors below an alias carry the path of its use",
		doc:  "agents:\n  - &a {id: a1, cap: 5}\n  - *a\n",
		into: new(testConfig),
		want: "agents[0].cap: unknown key (line 2)\nagents[1].cap: unknown key (line 2)",
	},
	{
		name: "alias cycle",
		doc:  "a: &a {b: *a}\n",
		into: new(map[string]any),
		want: "a.b: alias *a refers to a value that contains it (line 1)",
	},
	{
		name: "merge cycle",
		doc:  "a: &a {<<: *a}\n",
		into: new(map[string]any),
		want: "a.<<: alias *a refers to a value that contains it (line 1)",
	},
	{
		name: "unsupported Go type",
		doc:  "x: 1\n",
		into: new(map[string]chan int),
		want: "x: cannot decode into Go type chan int (line 1)",
	},
	{
		name: "map with non-string keys",
		doc:  "1: x\n",
		into: new(map[int]string),
		want: "cannot decode into Go type map[int]string: map keys must be strings (line 1)",
	},
	{
		name: "two documents",
		doc:  "listen: a\n---\nlisten: b\n",
		into: new(testConfig),
		want: "more than one YAML document; the configuration must be a single document (line 2)",
	},
	{
		name: "syntax error",
		doc:  "listen: [a\n",
		into: new(testConfig),
		want: "yaml: line 1: did not find expected ',' or ']'",
	},
}

func TestDecodeErrors(t *testing.T) {
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			err := DecodeBytes([]byte(tt.doc), tt.into)
			if err == nil {
				t.Fatalf("DecodeBytes succeeded, want error\n%s", tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("error\n%s\nwant\n%s", err, tt.want)
			}
		})
	}
}

func TestPathErrors(t *testing.T) {
	err := DecodeBytes([]byte("listen: [x]\nworkers: 300\n"), new(testConfig))
	var first *PathError
	if !errors.As(err, &first) {
		t.Fatalf("errors.As(%v, *PathError) = false", err)
	}
	want := PathError{Path: "listen", Line: 1, Column: 9, Msg: "expected a string, found a list"}
	if *first != want {
		t.Errorf("first error = %#v, want %#v", *first, want)
	}
	if n := len(err.(interface{ Unwrap() []error }).Unwrap()); n != 2 {
		t.Errorf("joined %d errors, want 2", n)
	}

	for _, tt := range []struct {
		err  PathError
		want string
	}{
		{PathError{Path: "a.b", Line: 3, Msg: "bad"}, "a.b: bad (line 3)"},
		{PathError{Path: "a.b", Msg: "bad"}, "a.b: bad"},
		{PathError{Line: 1, Msg: "bad"}, "bad (line 1)"},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("%#v.Error() = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestDecodeRawSectionLater(t *testing.T) {
	doc := "channels:\n  webchat:\n    greeting: hi\n    idle: 10\n    limits:\n      per.ip: many\n    origins: {}\n"
	var cfg testConfig
	if err := DecodeBytes([]byte(doc), &cfg); err != nil {
		t.Fatalf("DecodeBytes: %v", err)
	}
	var wc webchatConfig
	err := Decode(&cfg.Channels.Webchat, &wc, "channels.webchat")
	want := `channels.webchat.idle: must be a duration with a unit, like "30s" or "5m", got "10" (line 4)` + "\n" +
		`channels.webchat.limits["per.ip"]: must be a whole number, got "many" (line 6)` + "\n" +
		"channels.webchat.origins: expected a list, found a mapping (line 7)"
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
	if wc.Greeting != "hi" {
		t.Errorf("greeting = %q, want the good parts decoded", wc.Greeting)
	}

	// An absent section decodes to nothing, as does a nil node.
	var absent webchatConfig
	var zero yaml.Node
	if err := Decode(&zero, &absent, "channels.wechat"); err != nil {
		t.Errorf("absent section: %v", err)
	}
	if err := Decode(nil, &absent, "x"); err != nil {
		t.Errorf("nil node: %v", err)
	}
}

func TestDecodeUnmarshalerUsingDecode(t *testing.T) {
	// A type that decodes itself with Decode has its relative paths
	// prefixed with the path of the value.
	var got struct {
		Plugins map[string]plugin `yaml:"plugins"`
	}
	err := DecodeBytes([]byte("plugins:\n  crm:\n    url: x\n    retries: lots\n"), &got)
	want := `plugins.crm.retries: must be a whole number, got "lots" (line 4)`
	if err == nil || err.Error() != want {
		t.Errorf("error\n%v\nwant\n%s", err, want)
	}
}

type plugin struct {
	URL     string `yaml:"url"`
	Retries int    `yaml:"retries"`
}

func (p *plugin) UnmarshalYAML(n *yaml.Node) error {
	type plain plugin // no UnmarshalYAML method, so no recursion
	return Decode(n, (*plain)(p), "")
}

// lenient decodes itself with yaml.v3, which reports *yaml.TypeError.
type lenient plugin

func (l *lenient) UnmarshalYAML(n *yaml.Node) error {
	type plain lenient
	return n.Decode((*plain)(l))
}

func TestDecodeNeedsPointer(t *testing.T) {
	var cfg testConfig
	for _, v := range []any{cfg, (*testConfig)(nil), nil} {
		if err := DecodeBytes([]byte("listen: x\n"), v); err == nil {
			t.Errorf("DecodeBytes into %T succeeded", v)
		}
		if err := Decode(&yaml.Node{Kind: yaml.ScalarNode, Value: "x"}, v, ""); err == nil {
			t.Errorf("Decode into %T succeeded", v)
		}
	}
}

func TestDecodeBadStructTypes(t *testing.T) {
	type dup struct {
		A string `yaml:"x"`
		B string `yaml:"x"`
	}
	type badInline struct {
		M map[string]int `yaml:",inline"`
	}
	tests := []struct {
		into any
		want string
	}{
		{new(dup), `cannot decode into Go type config.dup: two fields are named "x" (line 1)`},
		{new(badInline), "cannot decode into Go type config.badInline: field M: only structs can be inline (line 1)"},
	}
	for _, tt := range tests {
		if err := DecodeBytes([]byte("x: 1\n"), tt.into); err == nil || err.Error() != tt.want {
			t.Errorf("%T: error %v, want %s", tt.into, err, tt.want)
		}
	}
}

// billionLaughs is a classic alias bomb: 10^levels strings.
func billionLaughs(levels int) string {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestDecodeAliasBomb(t *testing.T) {
	bomb := []byte(billionLaughs(9))
	typed := new(struct { // l0 to l7 are unknown keys
		L8 [][][][][][][][][]string `yaml:"l8"`
	})
	for _, into := range []any{new(any), new(map[string]any), typed} {
		start := time.Now()
		err := DecodeBytes(bomb, into)
		if err == nil || !strings.Contains(err.Error(), "document too large: more than 1000000 values after expanding aliases") {
			t.Errorf("%T: error %v, want the document refused as too large", into, err)
		}
		if took := time.Since(start); took > 20*time.Second {
			t.Errorf("%T: refusing the bomb took %v", into, took)
		}
	}

	// An UnmarshalYAML method is not handed a bomb either, even one that
	// it would not expand itself.
	var withPlugin struct {
		Defs   yaml.Node `yaml:"defs"`
		Plugin plugin    `yaml:"plugin"`
	}
	defs := "defs:\n  " + strings.ReplaceAll(strings.TrimSpace(billionLaughs(9)), "\n", "\n  ")
	err := DecodeBytes([]byte(defs+"\nplugin: {url: x, bomb: *l8}\n"), &withPlugin)
	if want := "plugin: document too large: more than 1000000 values after expanding aliases (line 2)"; err == nil || err.Error() != want {
		t.Errorf("plugin: error %v, want %s", err, want)
	}

	// A smaller expansion is fine.
	var small map[string][]any
	if err := DecodeBytes([]byte(billionLaughs(4)), &small); err != nil {
		t.Errorf("10^4 values: %v", err)
	}
	// A raw section is not expanded at all.
	var raw struct {
		L8 yaml.Node `yaml:"l8"`
	}
	if err := DecodeBytes(bomb, &raw); err == nil || strings.Contains(err.Error(), "too large") {
		t.Errorf("raw section: error %v, want only unknown keys", err)
	}
}

func TestDecodeTooManyErrors(t *testing.T) {
	var b strings.Builder
	for i := range 150 {
		fmt.Fprintf(&b, "k%d: 1\n", i)
	}
	err := DecodeBytes([]byte(b.String()), new(testConfig))
	if err == nil {
		t.Fatal("DecodeBytes succeeded")
	}
	lines := strings.Split(err.Error(), "\n")
	if len(lines) != maxErrors+1 || lines[0] != "k0: unknown key (line 1)" ||
		lines[maxErrors-1] != "k99: unknown key (line 100)" || lines[maxErrors] != "too many errors: stopped after 100" {
		t.Errorf("%d lines, first %q, last two %q", len(lines), lines[0], lines[len(lines)-2:])
	}
}

func TestDecodeTooDeep(t *testing.T) {
	deep := func(n int) []byte { return []byte(strings.Repeat("[", n) + strings.Repeat("]", n)) }
	var v any
	if err := DecodeBytes(deep(maxDepth), &v); err != nil {
		t.Errorf("%d levels: %v", maxDepth, err)
	}
	err := DecodeBytes(deep(maxDepth+1), &v)
	want := strings.Repeat("[0]", maxDepth) + ": nested more than 1000 levels deep (line 1)"
	if err == nil || err.Error() != want {
		t.Errorf("%d levels: error %.80v, want %.80s", maxDepth+1, err, want)
	}

	// Aliases nest deeper than the text does: top is a list in a list in
	// a list ... maxDepth+5 times.
	var b strings.Builder
	b.WriteString("defs:\n  - &a0 x\n")
	for i := 1; i <= maxDepth+5; i++ {
		fmt.Fprintf(&b, "  - &a%d [*a%d]\n", i, i-1)
	}
	fmt.Fprintf(&b, "top: *a%d\n", maxDepth+5)
	var aliased struct {
		Defs yaml.Node `yaml:"defs"`
		Top  any       `yaml:"top"`
	}
	err = DecodeBytes([]byte(b.String()), &aliased)
	if err == nil || !strings.Contains(err.Error(), "nested more than 1000 levels deep") {
		t.Errorf("error %.80v, want nesting refused", err)
	}
}

func TestJoinKey(t *testing.T) {
	for _, tt := range []struct{ path, key, want string }{
		{"", "a", "a"},
		{"a", "b", "a.b"},
		{"a", "b.c", `a["b.c"]`},
		{"", "b.c", `["b.c"]`},
		{"a", "x[0]", `a["x[0]"]`},
		{"a", "with space", `a["with space"]`},
		{"a", "", `a[""]`},
		{"a", `q"uote`, `a["q\"uote"]`},
		{"a", "tab\t", `a["tab\t"]`},
		{"a", "über", "a.über"},
	} {
		if got := joinKey(tt.path, tt.key); got != tt.want {
			t.Errorf("joinKey(%q, %q) = %s, want %s", tt.path, tt.key, got, tt.want)
		}
	}
}

func TestJoinPath(t *testing.T) {
	for _, tt := range []struct{ path, rel, want string }{
		{"a", "", "a"},
		{"", "b", "b"},
		{"", ".b", "b"},
		{"", "[0]", "[0]"},
		{"a", "b.c", "a.b.c"},
		{"a", ".b", "a.b"},
		{"a", "[2].b", "a[2].b"},
		{"a", `["x.y"]`, `a["x.y"]`},
	} {
		if got := joinPath(tt.path, tt.rel); got != tt.want {
			t.Errorf("joinPath(%q, %q) = %s, want %s", tt.path, tt.rel, got, tt.want)
		}
	}
}

func TestDecodeHandBuiltNodes(t *testing.T) {
	// Decode takes nodes built by code, too: a dangling alias and a root
	// value that validates itself.
	dangling := &yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{{Kind: yaml.AliasNode, Value: "x", Line: 3}}}
	var list []string
	if err := Decode(dangling, &list, "names"); err == nil || err.Error() != "names[0]: alias *x refers to no anchor (line 3)" {
		t.Errorf("dangling alias: error %v", err)
	}

	var l listener
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Line: 1}}}
	if err := Decode(doc, &l, ""); err == nil || err.Error() != "host: required (line 1)\nport: must be from 1 to 65535, got 0 (line 1)" {
		t.Errorf("root validation: error %v", err)
	}
	if err := Decode(&yaml.Node{Kind: yaml.DocumentNode}, &l, ""); err != nil {
		t.Errorf("empty document node: %v", err)
	}
}

func TestLocate(t *testing.T) {
	var doc yaml.Node
	src := "a:\n  b.c:\n    - x\n    - y: 1\n  d: 2\n"
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	root := doc.Content[0]
	for _, tt := range []struct {
		rel  string
		line int
	}{
		{"", 1},
		{"a", 2},
		{`a["b.c"]`, 3},
		{`a["b.c"][1].y`, 4},
		{`a["b.c"][1].missing`, 4},
		{`a["b.c"][7]`, 3},
		{"a.d", 5},
		{"[0]", 1},
		{`a["unterminated`, 2},
		{"a[x", 2},
	} {
		if got := locate(root, tt.rel); got.Line != tt.line {
			t.Errorf("locate(%q) at line %d, want %d", tt.rel, got.Line, tt.line)
		}
	}
}

func ptr[T any](v T) *T { return &v }
