package connectors

import (
	"context"
	"fmt"
)

// Notifier is implemented by channels that can send a standalone automatic
// notice to an address that is not a conversation of theirs: the e-mail
// connector mails a QR customer who left an address that an agent has
// replied on their tracking page. A notice is filed nowhere: it joins no
// conversation and no thread of the channel, so an answer to it is an
// ordinary new inbound message of that channel.
type Notifier interface {
	// CanNotify reports why account cannot send notices (it is not
	// configured, it has no way out); nil when it can. It is asked once,
	// at start-up.
	CanNotify(account string) error
	// Notify sends n from account. Errors are send errors: an *Error with
	// Temporary set may be tried again.
	Notify(ctx context.Context, account string, n Notice) error
}

// Notice is one automatic notice. Nothing in it reaches a header of the
// channel's message unencoded.
type Notice struct {
	// ID names the notice and stays the same when it is sent again (e-mail
	// makes its Message-ID of it).
	ID string
	// To is the recipient's address (e-mail: a bare address); Name, when
	// set, is shown with it.
	To, Name string
	// Subject is one line; Text is the body, plain text, in Lang ("zh",
	// "en").
	Subject, Text, Lang string
	// Link is the page the notice is about. The channel shows it where its
	// recipients can open it: e-mail puts it on a line of its own at the
	// end of the text, unless Text holds it already.
	Link string
}

// NotifierUser is implemented by channels that send notices through
// another channel (QR, through a mailbox: channels.qr.notify_mailbox).
type NotifierUser interface {
	// UseNotifiers is called once, after every connector is built, with
	// find, which returns the built connector of a channel when it is a
	// Notifier. An error is a configuration error and names the key,
	// below the connector's own section (`notify_mailbox: …`).
	UseNotifiers(find func(Channel) (Notifier, bool)) error
}

// LinkNotifiers hands every NotifierUser of r the Notifiers of r, and
// fails with the configuration key path of the first that refuses.
// Connectors are built one by one and know nothing of each other, so the
// composition root calls this once r is built, before anything runs.
func LinkNotifiers(r *Registry) error {
	find := func(ch Channel) (Notifier, bool) {
		c, ok := r.Get(ch)
		if !ok {
			return nil, false
		}
		n, ok := c.(Notifier)
		return n, ok
	}
	for _, c := range r.All() {
		u, ok := c.(NotifierUser)
		if !ok {
			continue
		}
		if err := u.UseNotifiers(find); err != nil {
			return fmt.Errorf("channels.%s: %w", c.Channel(), err)
		}
	}
	return nil
}
