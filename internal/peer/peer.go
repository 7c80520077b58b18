// Package peer decides what a test does when a real peer it needs (a
// redis-server, Dovecot, swaks, Chromium) is missing: skip loudly on a
// developer's machine, fail under CI=true.
package peer

import (
	"fmt"
	"os"
	"testing"
)

// Require skips t, or under CI=true fails it, when ok is false; what names
// the missing peer. With SWITCHBOARD_SKIP_LOG set, the skip is also
// written to that file (go test shows skips only with -v; scripts/test.sh
// prints the file at the end).
func Require(t testing.TB, ok bool, what string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI but missing", what)
	}
	if path := os.Getenv("SWITCHBOARD_SKIP_LOG"); path != "" {
		if f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
			fmt.Fprintf(f, "%s: %s is missing\n", t.Name(), what)
			f.Close()
		}
	}
	t.Skipf("SKIPPED: %s is missing; install it (see .ci/run) to run this test", what)
}
