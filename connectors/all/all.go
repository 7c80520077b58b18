// Package all lists every channel Switchboard has: the one place a new
// connector is registered.
package all

import (
	"switchboard/connectors"
	"switchboard/connectors/webchat"
)

// Register adds every channel's factory to r.
func Register(r *connectors.Registry) {
	r.Register(connectors.WebChat, webchat.New)
}
