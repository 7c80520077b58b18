// Package webchat is the web-chat channel: the customer widget
// (widget.js), its WebSocket, the HTTP fallback, and delivery of agents'
// replies to every open tab of the visitor on any replica.
//
// A visitor is identified by a random id the widget keeps in the browser
// (localStorage); it is the visitor's key to their thread. Each visitor
// has a thread stream, P{w:<site>:<visitor>}:events (trimmed to 500
// events, expires 30 days after the last event), holding their own
// messages and agents' replies; the widget reads it over the socket or by
// polling, and resumes from the last event id it saw.
package webchat
