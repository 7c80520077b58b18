// Package web holds the browser assets of the agent inbox: one static page,
// its script, its style sheet and its Chinese/English dictionary.
//
// The assets use no framework, no build step and no external URLs, so they
// run under the server's Content-Security-Policy
// (default-src 'self'; connect-src 'self' ws: wss:). They talk to the agent
// API and the agent socket described in docs/api.md.
//
// The server serves inbox/index.html at / and /inbox, and the other files
// under /inbox/ (for example /inbox/app.js).
package web
