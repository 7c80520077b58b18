package web

import "embed"

// Assets is the inbox page and its files, rooted at "inbox/"
// (inbox/index.html, inbox/app.js, inbox/app.css, inbox/i18n.js and
// inbox/favicon.svg), with the supervisors' dashboard
// (inbox/dashboard.js, inbox/dashboard.css) and the chart library it
// loads (inbox/vendor/uplot/), and the knowledge base (inbox/kb.js,
// inbox/kb.css).
//
//go:embed inbox
var Assets embed.FS
