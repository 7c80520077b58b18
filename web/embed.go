package web

import "embed"

// Assets is the inbox page and its files, rooted at "inbox/"
// (inbox/index.html, inbox/app.js, inbox/app.css, inbox/i18n.js and
// inbox/favicon.svg).
//
//go:embed inbox
var Assets embed.FS
