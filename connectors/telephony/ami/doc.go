// Package ami follows an Asterisk's calls through its Manager Interface
// (AMI, Asterisk 13 and later) and turns them into call events
// (connectors.CallEvent) for the telephony connector.
//
// No maintained AMI library is among the module's dependencies, and the
// protocol is small, so the framing is written here (reader.go): a banner
// line, then packets of "Key: Value" lines each ended by an empty line;
// keys are case-insensitive, a value is split off at the first colon, a
// key may repeat, bare LF is accepted for CRLF, and lines and packets are
// bounded (ErrLineTooLong, ErrPacketTooLarge end the connection).
//
// # Connection
//
// One replica at a time connects, the holder of the source's Redis lease
// (lease.go documents the key and its TTL). It logs in with an ActionID
// asking for call and agent events only, pings every Config.Ping and drops
// a connection silent for longer, and connects again after any failure
// with exponential backoff (1 s doubling to 1 min, up to a fifth less at
// random). A refused login (ErrAuth, from Client.Err) is logged as an error
// naming the user, never the secret, and retried with the same backoff.
//
// # Calls
//
// A call is a Linkedid, however many channels it spawns; what is known of
// it is kept in memory until the Hangups of its channels (or a minute after
// its own hangup), or 12 hours without an event. A channel's device is the
// part of its name between the technology and the unique suffix
// (PJSIP/8001-00000013 → 8001; Local/8001@from-queue-…;1 → 8001), and it is
// an extension when Config.Extensions matches it.
//
//   - newCall, direction in: the first Newchannel of a Linkedid whose
//     channel is a trunk's (its device is no extension), or, with
//     Config.InboundContexts set, whose Context is one of them. From is
//     CallerIDNum ("<unknown>" → ""), To is Exten ("s" → "").
//   - newCall, direction out: the first Newchannel of a Linkedid on an
//     extension's channel whose Exten is a number that is no extension.
//     From is CallerIDNum, To is Exten, Users is the extension. Calls from
//     extension to extension are nobody's business here and are ignored.
//   - ring: AgentCalled (the extension of Interface, else of DestChannel)
//     or DialBegin to an extension's channel. One ring per extension, Users
//     holding that one extension: a queue that rings 8001 and 8002 gives two
//     rings. An extension rings once per call.
//   - answer: DialEnd with DialStatus ANSWER, AgentConnect, or a channel
//     entering a bridge as its second (holding bridges excepted), with
//     AnsweredBy the extension; for an outbound call the dialing extension
//     when the far end answers. An extension answers once per call; an
//     extension the call is transferred to answers again. An inbound call
//     answered by no extension (forwarded out through a trunk) gets no
//     answer event, and ends as forwarded.
//   - hangup: the Hangup of the originating channel, with AnsweredBy the
//     last extension that answered and Cause: normalClearing when
//     answered (forwarded when an inbound call was answered by no
//     extension); cancel when the caller left a queue or hung up while a
//     dial rang; else from the last DialStatus (BUSY → busy, NOANSWER →
//     noAnswer, CONGESTION and CHANUNAVAIL → congestion, CANCEL → cancel);
//     else from the Hangup's Q.850 cause (17, 21 → busy; 18, 19 → noAnswer;
//     1, 3 → notFound; 34, 38, 41, 42, 44, 47 → congestion); else cancel.
//
// Every event has Source, CallID (the Linkedid), Direction, From, To,
// Queue when known, and At: the event's Timestamp (manager.conf
// timestampevents = yes), else when it was read. A call met in the middle
// (after a reconnect or a takeover) is adopted from the next event of its
// originating channel, with a newCall of its own (Handle deduplicates it
// when it was sent before).
//
// # Handle
//
// The reader puts call events in a bounded queue and one dispatcher hands
// them to Handle in order, so a slow Handle never holds the socket for
// long; queue.go says what happens when the queue is full.
package ami
