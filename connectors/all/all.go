// Package all lists every channel Switchboard has: the one place a new
// connector is registered.
package all

import (
	"switchboard/connectors"
	"switchboard/connectors/email"
	"switchboard/connectors/qr"
	"switchboard/connectors/telephony"
	"switchboard/connectors/webchat"
	"switchboard/connectors/wechat"
)

// Register adds every channel's factory to r.
func Register(r *connectors.Registry) {
	r.Register(connectors.WebChat, webchat.New)
	r.Register(connectors.WeChatOA, wechat.NewOA)
	r.Register(connectors.WeChatMP, wechat.NewMP)
	r.Register(connectors.Email, email.New)
	r.Register(connectors.QR, qr.New)
	r.Register(connectors.CTI, telephony.New)
}
