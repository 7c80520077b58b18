package session

import (
	"bytes"
	"encoding/json"
	"testing"
)

// AppendJSON renders exactly what json.Marshal renders, for every shape of
// frame the socket sends.
func TestFrameAppendJSONMatchesMarshal(t *testing.T) {
	cases := []Frame{
		{Type: "pong"},
		{Type: "hello", Data: json.RawMessage(`{"agent":{"id":"li"},"presence":{"status":"online"}}`)},
		{Stream: "inbox", ID: "1795413693390-0", Type: "conversation.updated", Data: json.RawMessage(`{"conversation":{"id":"01M8","preview":"你好 \u003cb\u003e"}}`)},
		{Stream: "agent", ID: "1-0", Type: "message.new", Data: json.RawMessage(`{"text":"\u003cscript\u003e"}`)},
		{Stream: "watch", Type: "typing"},
		{Type: `odd "type" <x> & 中`, ID: "a\nb"},
	}
	for _, f := range cases {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.AppendJSON(nil); !bytes.Equal(got, want) {
			t.Errorf("AppendJSON\n got %s\nwant %s", got, want)
		}
	}
}

func BenchmarkFrameAppendJSON(b *testing.B) {
	f := Frame{Stream: "inbox", ID: "1795413693390-0", Type: "conversation.updated",
		Data: json.RawMessage(`{"changed":null,"conversation":{"id":"01M83FXMX2YQRKQYRFX11W0QHC","channel":"wechat_oa","preview":"你好，我的订单"}}`)}
	b.Run("AppendJSON", func(b *testing.B) {
		for b.Loop() {
			_ = f.AppendJSON(nil)
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			_, _ = json.Marshal(f)
		}
	})
}
