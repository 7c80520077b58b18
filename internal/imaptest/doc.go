// Package imaptest gives tests a real IMAP server: a private Dovecot 2.3
// that Start runs for one test on a free loopback port, with passwd-file
// users and Maildir mail in the test's temporary directory. Tests put mail
// in a mailbox the way an MTA would (Deliver, through dovecot-lda), change a
// mailbox's UIDVALIDITY (ResetUIDValidity), and cut every connection
// (Stop, Restart).
//
// Without Dovecot, Require and Start skip the test with a loud reason,
// except under CI=true, where a missing peer fails the test instead. Swaks
// does the same for the swaks SMTP client. .ci/run and scripts/test.sh
// install both (Debian packages dovecot-imapd and swaks).
//
// The server speaks plaintext IMAP only (ssl = no) and allows plaintext
// LOGIN and AUTHENTICATE PLAIN. That is acceptable because it listens on
// 127.0.0.1 alone and its users and passwords exist only for the test.
//
// Dovecot refuses to give mail to uid 0. When the tests run as root (as in
// CI), the mail belongs to uid/gid 65534 (nobody/nogroup), the Dovecot
// services run as the Debian package's dovecot and dovenull users, and the
// test's temporary directory is made traversable for them. Otherwise
// everything runs as the current user (a "rootless" Dovecot).
package imaptest
