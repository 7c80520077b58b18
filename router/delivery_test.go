package router

import (
	"context"
	"testing"
)

// A reply the channel reports failed after it was sent (an e-mail bounce)
// shows failed with the channel's code and reason; a report about an
// unknown reply or conversation changes nothing.
func TestReportFailure(t *testing.T) {
	x := withAssigned(t, agentsN(1, 5, "support"), "bounce-visitor-1")
	r, id, a := x.r, x.conv, x.agents[0]
	ctx := context.Background()
	m, err := r.Reply(ctx, a, id, ReplyInput{Text: "hello"})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "sent", func() bool { return delivery(t, r, id, m.ID) == "sent" })
	if err := r.ReportFailure(ctx, id, m.ID, "5.1.1", "退信 · the mail bounced: 5.1.1 user unknown"); err != nil {
		t.Fatal(err)
	}
	if got := delivery(t, r, id, m.ID); got != "failed" {
		t.Fatalf("delivery %q after the bounce, want failed", got)
	}
	msgs, err := r.Messages(ctx, id, "", "", 50)
	if err != nil {
		t.Fatal(err)
	}
	for _, mm := range msgs {
		if mm.ID == m.ID && (mm.Delivery == nil || mm.Delivery.Code != "5.1.1" || mm.Delivery.Error == "") {
			t.Errorf("delivery %+v", mm.Delivery)
		}
	}
	for _, bad := range [][2]string{{id, "nosuchmessage"}, {"nosuchconv", m.ID}, {"{x}", "y"}} {
		if err := r.ReportFailure(ctx, bad[0], bad[1], "5.0.0", "x"); err != nil {
			t.Errorf("%v: %v", bad, err)
		}
	}
	if n, _ := r.rdb.HLen(ctx, r.k.convDelivery("nosuchconv")).Result(); n != 0 {
		t.Error("a report about an unknown conversation wrote a delivery record")
	}
}
