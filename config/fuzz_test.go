package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"testing"
	"time"
)

// fuzzConfig is shaped like a Switchboard configuration. It has no `any`
// field: yaml.v3 decodes .nan into one, and NaN is not DeepEqual to itself.
type fuzzConfig struct {
	common   `yaml:",inline"`
	Listen   string                   `yaml:"listen"`
	Workers  uint8                    `yaml:"workers"`
	Offset   int16                    `yaml:"offset"`
	Ratio    float32                  `yaml:"ratio"`
	Trusted  []netip.Prefix           `yaml:"trusted"`
	Channels channelsConfig           `yaml:"channels"`
	Agents   []agentConfig            `yaml:"agents"`
	Teams    map[string]teamConfig    `yaml:"teams"`
	Timeouts map[string]time.Duration `yaml:"timeouts"`
	Limit    *int                     `yaml:"limit"`
	Server   *listener                `yaml:"server"`
	Defaults map[string]*imapConfig   `yaml:"defaults"`
}

// FuzzDecodeBytes checks that decoding never panics and is deterministic:
// the same bytes give equal values, or the same error, every time.
func FuzzDecodeBytes(f *testing.F) {
	f.Add([]byte(fullDoc))
	f.Add([]byte(billionLaughs(3)))
	for _, tt := range successCases {
		f.Add([]byte(tt.doc))
	}
	for _, tt := range errorCases {
		f.Add([]byte(tt.doc))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		var a, b fuzzConfig
		errA, errB := DecodeBytes(data, &a), DecodeBytes(data, &b)
		if fmt.Sprint(errA) != fmt.Sprint(errB) {
			t.Fatalf("two decodes failed differently:\n%v\n%v", errA, errB)
		}
		if errA == nil && !reflect.DeepEqual(a, b) {
			t.Fatalf("two decodes differ:\n%#v\n%#v", a, b)
		}
		if errA == nil {
			// The raw section decodes later without panicking either.
			var wc webchatConfig
			_ = Decode(&a.Channels.Webchat, &wc, "channels.webchat")
		}

		// Generic decoding: compare printed values, where NaN equals NaN.
		var x, y any
		errX, errY := DecodeBytes(data, &x), DecodeBytes(data, &y)
		if fmt.Sprint(errX) != fmt.Sprint(errY) {
			t.Fatalf("two generic decodes failed differently:\n%v\n%v", errX, errY)
		}
		if px, py := fmt.Sprintf("%#v", x), fmt.Sprintf("%#v", y); px != py {
			t.Fatalf("two generic decodes differ:\n%s\n%s", px, py)
		}
	})
}
