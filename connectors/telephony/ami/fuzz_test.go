package ami

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Any bytes from the peer: the reader never panics, stays within its
// bounds, and what it returns survives a round trip through encoding; the
// tracker never panics on what it returns, and every call event it makes
// names its call.
func FuzzReader(f *testing.F) {
	f.Add([]byte("Asterisk Call Manager/5.0.3\r\nResponse: Success\r\nActionID: 1\r\n\r\n"))
	f.Add([]byte("Event: Newchannel\nAccountCode: \nConnectedLineName:\nChanVariable: A=1\nChanVariable: B=2\n\n"))
	f.Add([]byte("Event: Hangup\r\nno colon\r\n:\r\n: v\r\nk:\r\n\r\n\r\n\r"))
	f.Add([]byte(strings.Repeat("x", 300)))
	files, _ := filepath.Glob("testdata/*.ami")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	ext := regexp.MustCompile(DefaultExtensions)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Small bounds, so the fuzzer reaches them.
		const line, size, fields = 64, 512, 16
		r := newReaderSize(bytes.NewReader(data), line, size, fields)
		tr := newTracker("pbx", ext, nil, slog.New(slog.DiscardHandler))
		now := time.Unix(1700000000, 0)
		for range 1000 {
			p, err := r.packet()
			if err != nil {
				return
			}
			if len(p.fields) == 0 || len(p.fields) > fields {
				t.Fatalf("%d fields", len(p.fields))
			}
			var enc []byte
			for _, fl := range p.fields {
				if strings.ContainsAny(fl.key, ":\n") || strings.Contains(fl.value, "\n") ||
					fl.key != strings.TrimSpace(fl.key) || fl.value != strings.TrimSpace(fl.value) {
					t.Fatalf("field %q", fl)
				}
				enc = append(enc, fl.key+": "+fl.value+"\r\n"...)
			}
			enc = append(enc, "\r\n"...)
			again, err := newReaderSize(bytes.NewReader(enc), 4*line, 4*size, fields).packet()
			if err != nil || !reflect.DeepEqual(again, p) {
				t.Fatalf("round trip of %q: %q, %v", p.fields, again.fields, err)
			}
			for _, ev := range tr.event(p, now) {
				if ev.CallID == "" || ev.Source != "pbx" || ev.Type == "" {
					t.Fatalf("call event %+v", ev)
				}
			}
			now = now.Add(time.Second)
		}
	})
}
