// Package e2e holds Switchboard's end-to-end tests. It has no code of its
// own: every test is in a _test.go file.
//
// The tests build the real binary once (TestMain), write a configuration
// file per test, and run one or more `switchboard serve` processes on free
// loopback ports against one redis-server of the test's own
// (internal/redistest). They talk to the processes only through their
// public surfaces: the agent HTTP API and socket, the web-chat HTTP API and
// socket, the WeChat callback routes, the SMTP listener, the CTI webhook, the
// QR and survey pages, and, in the browser tests, headless Chromium driving
// the customer widget and pages and the agent inbox. (The dashboard test is
// the exception, below.)
//
//	multiprocess_test.go  two replicas on one Redis: a customer on one, an
//	                      agent on the other; socket resume after a drop;
//	                      a replica killed with SIGKILL mid-stream
//	browser_test.go       widget -> inbox -> widget in Chromium, literal
//	                      rendering of hostile text, history after reload;
//	                      inbox pages, CSP, the bilingual 404 page
//	wechat_test.go        official account and mini-program pushes through
//	                      the real routes against a fake WeChat API: retries
//	                      on two replicas stored once, every kind in every
//	                      mode, media into the blob store, replies (with
//	                      an uploaded picture), errcodes
//	email_test.go         mail handed to the SMTP listener with swaks: GBK
//	                      decoded, a reply threaded, 550/552, an auto-reply
//	                      filed nowhere
//	browser_wechat_test.go a WeChat conversation in the inbox in Chromium:
//	                      badges, reply window, media, hostile text, reply,
//	                      a picture attached and sent
//	browser_email_test.go an e-mail conversation in the inbox in Chromium:
//	                      a GBK mail with hostile HTML and a PDF over SMTP,
//	                      the reply through a loopback relay (In-Reply-To);
//	                      the quarantine view for a supervisor (a mail bomb
//	                      listed, downloaded, dismissed), none for an agent
//	browser_call_test.go  a CTI call in Chromium: the screen-pop reaches the
//	                      rung agent's inbox and not another's; one click
//	                      makes a ticket with the call attached
//	browser_merge_test.go a caller's number linked from the pop, a refused
//	                      link turned into a merge, the merge undone by a
//	                      supervisor; the panels show both customers again
//	browser_qr_test.go    the QR form on a phone-sized screen without
//	                      JavaScript, the report in the inbox, the reply on
//	                      the tracking page
//	browser_kb_test.go    the knowledge base in Chromium: a supervisor
//	                      writes an article (hostile HTML in its Markdown
//	                      shown as text) and a canned reply; an agent finds
//	                      the article by a Chinese question, sees it
//	                      suggested for a conversation, inserts it, and
//	                      inserts the canned reply by its "/" shortcut,
//	                      rendered for the customer and the ticket
//	browser_dashboard_test.go the supervisors' KPI dashboard in Chromium: none
//	                      for an agent (page or API); tiles, canvas charts,
//	                      legend and tables for the last 7 days; Chinese
//	                      labels; new figures after a socket event. It runs
//	                      a gateway built in the test process (server.Deps
//	                      with a fake kpi.Source) on its own redis-server,
//	                      not the binary
//	browser_sla_test.go   SLA in the inbox in Chromium: lists sorted by due
//	                      time with countdown badges, the ticket's
//	                      first-response line, rows turning amber at the
//	                      warning and red at the breach, the supervisor's
//	                      notice; the FAQ bot answering and handing over,
//	                      then the CSAT survey, score and comment in the
//	                      agent's thread and the ticket
//	browser_survey_test.go the survey in the widget on a phone-sized screen
//	                      (star buttons, a tap records the score without
//	                      reopening, kept after a reload); the survey page
//	                      in Chinese and English under its strict CSP
//	survey_test.go        surveys through WeChat (a full-width "５" typed),
//	                      e-mail (one-click score links, a forged token
//	                      404, a comment on the page) and the QR tracking
//	                      page
//
// Run them with `go test ./e2e/`; `-short` skips the whole package. They
// need redis-server (and /usr/bin/chromium for the browser tests): locally a
// missing one skips the test loudly, under CI=true it fails it.
//
// A failed test logs the stderr of every process it started, and the
// browser tests keep their screenshots and log where. Two switches:
//
//	SWITCHBOARD_E2E_RACE=1      build the binary with -race; a data race in
//	                            a replica fails the test
//	SWITCHBOARD_E2E_SHOTS=DIR   keep the screenshots in DIR in any case
package e2e
