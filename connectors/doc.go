// Package connectors is the contract between Switchboard's channels and its core.
//
// A channel (web chat, WeChat, e-mail, telephony, QR self-service) is one
// Connector. It turns what arrives on the channel into a normalized Message,
// hands it to an Ingester (the router), acknowledges the channel only after
// the Ingester returned, and delivers Outbound messages back out.
//
// Connectors may additionally serve HTTP endpoints (HTTP) and run background
// loops (Runner); the composition root discovers both by type assertion.
//
// This package imports nothing of Switchboard, and connectors import this
// package and libraries only: never router, session or tickets.
package connectors
