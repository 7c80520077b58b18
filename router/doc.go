// Package router turns what channels deliver into customers,
// conversations and tickets, routes conversations to agents, and sends
// agents' replies back out.
//
// Ingest is atomic and idempotent in at most two Redis round trips, each a
// Lua script on one hash slot (see keys.go), so it runs unchanged on Redis
// Cluster: ingest_identity.lua on the identity's slot deduplicates and
// finds or opens the conversation; append_inbound.lua on the
// conversation's slot appends the message once, pipelined with the
// customer, index and dispatch writes of a new conversation. A replay after
// a crash between the two finishes the work and duplicates nothing.
//
// Dispatch and outbound sending are Redis stream consumer groups shared by
// all replicas ("dispatch", "outbox"); a replica that dies mid-way leaves
// its entries pending, and another reclaims them. Assignment happens in
// one Lua script on the dispatch slot {d}, so no conversation is assigned
// twice and no agent exceeds capacity, however many replicas run.
//
// Dependencies: router uses connectors (the contract), session (agents,
// presence, events) and tickets (lifecycle rules).
package router
