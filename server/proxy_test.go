package server

import (
	"context"
	"io"
	"net"
	"net/http"
	"testing"

	"switchboard/connectors"
)

// remoteEcho is a connector whose one endpoint answers the client address
// the server gave it.
type remoteEcho struct{}

func (remoteEcho) Channel() connectors.Channel { return "echo" }
func (remoteEcho) Send(context.Context, *connectors.Outbound) (connectors.Receipt, error) {
	return connectors.Receipt{}, nil
}
func (remoteEcho) Endpoints() []connectors.Endpoint {
	return []connectors.Endpoint{{Method: "GET", Path: "/channels/echo/remote",
		Handle: func(_ context.Context, r *connectors.Request) (*connectors.Response, error) {
			return &connectors.Response{Body: []byte(r.Remote.String())}, nil
		}}}
}

// The client's address is the proxy's header only from a listed proxy,
// and only when it is an address; otherwise it is the peer's own.
func TestClientAddressBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		opts   Options
		header string
		want   string
	}{
		{"no proxy configured: the header is ignored", Options{}, "203.0.113.9", "127.0.0.1"},
		{"a trusted proxy", Options{ProxyHeader: "X-Real-IP", TrustedProxies: []string{"127.0.0.0/8"}}, "203.0.113.9", "203.0.113.9"},
		{"an IPv6 client", Options{ProxyHeader: "X-Real-IP", TrustedProxies: []string{"127.0.0.1"}}, "2001:db8::7", "2001:db8::7"},
		{"the peer is not a listed proxy", Options{ProxyHeader: "X-Real-IP", TrustedProxies: []string{"10.0.0.0/8"}}, "203.0.113.9", "127.0.0.1"},
		{"a header without proxies", Options{ProxyHeader: "X-Real-IP"}, "203.0.113.9", "127.0.0.1"},
		{"not an address: the peer counts", Options{ProxyHeader: "X-Real-IP", TrustedProxies: []string{"127.0.0.0/8"}}, "evil, 203.0.113.9x", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reg := connectors.NewRegistry()
			reg.Add(remoteEcho{})
			s := New(tc.opts, Deps{Registry: reg, Log: quiet()})
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- s.Serve(ctx, ln) }()
			defer func() { cancel(); <-done }()
			req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/channels/echo/remote", nil)
			req.Header.Set("X-Real-IP", tc.header)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tc.want {
				t.Errorf("the connector saw %q, want %q", b, tc.want)
			}
		})
	}
}
