// Package session holds what belongs to agents: the agent directory
// (seeded from the config, kept in Redis so every replica sees API
// changes), login with bcrypt passwords and bearer tokens, presence
// (online/away/offline with heartbeat and grace), agent load and capacity,
// and the events agents receive: one durable stream per agent plus one
// shared inbox stream, fanned out to every replica and resumable after a
// dropped connection.
//
// Keys (prefix P, see keys.go): P agents, P agents:email, P token:<sha256>,
// P loginfail:<email>, P{d}:presence, P{d}:seen, P{d}:cap, P{d}:load,
// P{a:<agent>}:events, P{b}:inbox.
package session
