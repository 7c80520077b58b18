package session

// Keys builds the Redis keys session owns. The presence, capacity and load
// hashes share the dispatch hash tag {d}, so the router's assignment
// scripts can read and update them atomically with its queues.
type Keys struct{ P string }

// Agents maps agent id to the agent record (JSON). No TTL.
func (k Keys) Agents() string { return k.P + "agents" }

// AgentEmails maps a lower-cased e-mail address to an agent id. No TTL.
func (k Keys) AgentEmails() string { return k.P + "agents:email" }

// Token maps the SHA-256 of a bearer token to an agent id. TTL TokenTTL.
func (k Keys) Token(sum string) string { return k.P + "token:" + sum }

// LoginFailures counts recent failed logins for an address. TTL 5 minutes.
func (k Keys) LoginFailures(email string) string { return k.P + "loginfail:" + email }

// Presence maps agent id to the status the agent chose. No TTL.
func (k Keys) Presence() string { return k.P + "{d}:presence" }

// Seen maps agent id to the last heartbeat, in Unix milliseconds. No TTL.
func (k Keys) Seen() string { return k.P + "{d}:seen" }

// Capacity maps agent id to how many conversations the agent may hold. No TTL.
func (k Keys) Capacity() string { return k.P + "{d}:cap" }

// Load maps agent id to the number of active conversations assigned. No TTL.
func (k Keys) Load() string { return k.P + "{d}:load" }

// AgentEvents is the agent's event stream and pub/sub channel. Trimmed to
// about 1,000 events.
func (k Keys) AgentEvents(agent string) string { return k.P + "{a:" + agent + "}:events" }

// InboxEvents is the event stream and channel every agent follows. Trimmed
// to about 10,000 events.
func (k Keys) InboxEvents() string { return k.P + "{b}:inbox" }
