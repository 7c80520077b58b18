package connectors

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// fakeConn is a connector of channel ch; with notices it is a Notifier,
// with use a NotifierUser.
type fakeConn struct{ ch Channel }

func (f fakeConn) Channel() Channel                               { return f.ch }
func (fakeConn) Send(context.Context, *Outbound) (Receipt, error) { return Receipt{}, nil }

type fakeNotifier struct{ fakeConn }

func (fakeNotifier) CanNotify(string) error                       { return nil }
func (fakeNotifier) Notify(context.Context, string, Notice) error { return nil }

type fakeUser struct {
	fakeConn
	use func(find func(Channel) (Notifier, bool)) error
}

func (u fakeUser) UseNotifiers(find func(Channel) (Notifier, bool)) error { return u.use(find) }

// LinkNotifiers hands users the channels that are Notifiers, none other,
// and prefixes a refusal with the user's config section.
func TestLinkNotifiers(t *testing.T) {
	r := NewRegistry()
	r.Add(fakeNotifier{fakeConn{Email}})
	r.Add(fakeConn{WebChat})
	var saw []string
	r.Add(fakeUser{fakeConn{QR}, func(find func(Channel) (Notifier, bool)) error {
		for _, ch := range []Channel{Email, WebChat, CTI} {
			if _, ok := find(ch); ok {
				saw = append(saw, string(ch))
			}
		}
		return nil
	}})
	if err := LinkNotifiers(r); err != nil {
		t.Fatal(err)
	}
	if strings.Join(saw, ",") != "email" {
		t.Errorf("found notifiers %v, want [email]", saw)
	}

	bad := errors.New(`notify_mailbox: "x" is not a mailbox`)
	r.Add(fakeUser{fakeConn{QR}, func(func(Channel) (Notifier, bool)) error { return bad }})
	err := LinkNotifiers(r)
	if !errors.Is(err, bad) || !strings.HasPrefix(err.Error(), "channels.qr: notify_mailbox: ") {
		t.Errorf("%v, want channels.qr: notify_mailbox: …", err)
	}
}
