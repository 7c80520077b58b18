package ami

import (
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReaderFraming(t *testing.T) {
	in := "Asterisk Call Manager/5.0.3\r\n" +
		"Response: Success\r\nActionID: 1\r\nMessage: Authentication accepted\r\n\r\n" +
		// bare LF, a key without the space, an empty value both ways, a
		// value with colons, a repeated key, another key case
		"Event: Newchannel\nAccountCode: \nConnectedLineName:\nDialString: PJSIP/sip:8001@10.0.0.5:5060\n" +
		"ChanVariable: A=1\r\nchanvariable: B=x:y\r\nCALLERIDNUM:13800138000\n\n" +
		"\r\n\r\n" + // blank lines between packets
		"Event: Hangup\r\nno colon here\r\nCause: 16\r\n\r\n"
	r := newReader(strings.NewReader(in))
	banner, err := r.banner()
	if err != nil || banner != "Asterisk Call Manager/5.0.3" {
		t.Fatalf("banner = %q, %v", banner, err)
	}
	want := []packet{
		{fields: []field{{"Response", "Success"}, {"ActionID", "1"}, {"Message", "Authentication accepted"}}},
		{fields: []field{{"Event", "Newchannel"}, {"AccountCode", ""}, {"ConnectedLineName", ""},
			{"DialString", "PJSIP/sip:8001@10.0.0.5:5060"}, {"ChanVariable", "A=1"}, {"chanvariable", "B=x:y"},
			{"CALLERIDNUM", "13800138000"}}},
		{fields: []field{{"Event", "Hangup"}, {"Cause", "16"}}},
	}
	for i, w := range want {
		p, err := r.packet()
		if err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if !reflect.DeepEqual(p, w) {
			t.Errorf("packet %d = %q, want %q", i, p.fields, w.fields)
		}
	}
	if _, err := r.packet(); err != io.EOF {
		t.Errorf("at the end: %v, want io.EOF", err)
	}
	ev := want[1]
	if got := ev.get("callerIDnum"); got != "13800138000" {
		t.Errorf("get is not case-insensitive: %q", got)
	}
	if got := ev.values("ChanVariable"); !reflect.DeepEqual(got, []string{"A=1", "B=x:y"}) {
		t.Errorf("values(ChanVariable) = %q", got)
	}
	if got := ev.get("Missing"); got != "" {
		t.Errorf("get(Missing) = %q", got)
	}
}

func TestReaderErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     error
	}{
		{"cut inside a packet", "Event: Newchannel\r\nChannel: PJS", io.ErrUnexpectedEOF},
		{"cut after a line", "Event: Newchannel\r\n", io.ErrUnexpectedEOF},
		{"endless line", "Event: " + strings.Repeat("x", maxLine), ErrLineTooLong},
		{"too many bytes", strings.Repeat("Variable: "+strings.Repeat("v", 1000)+"\r\n", maxPacket/1000+1), ErrPacketTooLarge},
		{"too many fields", strings.Repeat("K: v\r\n", maxFields+1), ErrPacketTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := newReader(strings.NewReader(tc.in)).packet()
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// endless is a peer that sends one line for ever.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	e.n += len(p)
	return len(p), nil
}

func TestReaderEndlessLineIsBounded(t *testing.T) {
	src := &endless{}
	_, err := newReader(src).packet()
	if !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
	if src.n > 2*maxLine {
		t.Errorf("read %d bytes of one line before giving up; the buffer is %d", src.n, maxLine)
	}
}

func TestBanner(t *testing.T) {
	for in, ok := range map[string]bool{
		"Asterisk Call Manager/5.0.3\r\n": true,
		"Asterisk Call Manager/2.10.6\n":  true,
		"SSH-2.0-OpenSSH_9.6\r\n":         false,
		"HTTP/1.1 400 Bad Request\r\n":    false,
	} {
		_, err := newReader(strings.NewReader(in)).banner()
		if (err == nil) != ok || !ok && !errors.Is(err, ErrNotAMI) {
			t.Errorf("banner(%q): %v", in, err)
		}
	}
}

func TestEncode(t *testing.T) {
	b, err := encode(field{"Action", "Login"}, field{"ActionID", "7"}, field{"Secret", "a: b"})
	if err != nil || string(b) != "Action: Login\r\nActionID: 7\r\nSecret: a: b\r\n\r\n" {
		t.Fatalf("encode = %q, %v", b, err)
	}
	for _, f := range []field{{"Secret", "x\r\nAction: Originate"}, {"Secret", "x\n"}, {"A:B", "v"}, {"A\n", "v"}} {
		if _, err := encode(f); !errors.Is(err, errBadValue) {
			t.Errorf("encode(%q) = %v, want errBadValue", f, err)
		}
	}
}

func TestTimestamp(t *testing.T) {
	for ts, want := range map[string]time.Time{
		"1627089414.908005":     time.Unix(1627089414, 908005000),
		"1627089414":            time.Unix(1627089414, 0),
		"1627089414.1":          time.Unix(1627089414, 100000000),
		"1627089414.123456789":  time.Unix(1627089414, 123456789),
		"1627089414.1234567891": time.Unix(1627089414, 123456789),
		"":                      {},
		"soon":                  {},
		"-5.0":                  {},
		"1.-5":                  {},
	} {
		p := packet{fields: []field{{"Timestamp", ts}}}
		if got := p.at(); !got.Equal(want) {
			t.Errorf("at(%q) = %v, want %v", ts, got, want)
		}
	}
}
