// Package mailparse turns a raw inbound e-mail into what the e-mail
// connector needs: decoded header fields and addresses, threading ids, the
// text body and the new part of a reply, the HTML body made safe to show,
// attachments and inline parts, and a verdict on whether a person, a
// machine, a list or a bounce sent it.
//
// Everything here is a pure function of the mail's bytes: no Redis, no
// network, no clock. Parse is tolerant of broken mail (8-bit headers, GBK
// labelled gb2312, encoded-words inside quotes, missing boundaries) and
// strict about size: Limits bound every dimension a crafted mail could blow
// up, and a mail over them is refused with a *Refused, whose Reason the
// connector records when it quarantines the mail.
//
// The MIME layer is github.com/emersion/go-message: its multipart reader
// splits the parts and reads their headers, its entities undo the transfer
// encodings, and its charset package (on golang.org/x/text) decodes the
// charsets, with the GB family (gb2312, gbk, cp936, gb18030) registered as
// GB18030, its superset. What go-message is strict about stays lenient here:
// the mail's own header, RFC 2047 words, addresses, message ids, RFC 2231
// parameters and broken base64 or quoted-printable. Parse walks the tree
// itself, so the Limits hold at every level. HTML is read with the tokenizer
// of golang.org/x/net/html.
package mailparse
