package router

import (
	"crypto/sha256"
	"encoding/hex"

	"switchboard/connectors"
)

// keys builds every Redis key the router owns, under one prefix. Keys that
// one script touches together share a hash tag, so each script runs on one
// slot of a Redis Cluster:
//
//	{i:H}  one customer identity (H hashes type:value)
//	{u:ID} one customer
//	{c:ID} one conversation (it is also the ticket: one episode, one ticket)
//	{d}    dispatch: work stream, team queues, assignment and agent load
//	{o}    outbound work
//	{x}    conversation list indexes
type keys struct{ p string }

// identityTag hashes an identity into its hash tag.
func identityTag(id connectors.Identity) string {
	sum := sha256.Sum256([]byte(id.Type + ":" + id.Value))
	return "{i:" + hex.EncodeToString(sum[:10]) + "}"
}

// identityCustomer maps an identity to its customer id. No TTL.
func (k keys) identityCustomer(tag string) string { return k.p + tag + ":cust" }

// identityOpen maps an identity on one channel account (and, for
// channels with threads, one thread) to its current conversation. No TTL;
// deleted when that conversation closes.
func (k keys) identityOpen(tag string, ch connectors.Channel, account, thread string) string {
	key := k.p + tag + ":open:" + string(ch) + ":" + account
	if thread != "" {
		key += ":t:" + thread
	}
	return key
}

// identitySeen is the deduplication record of one inbound message:
// "customer|conversation|message|flags". TTL seenTTL (7 days).
func (k keys) identitySeen(tag string, ch connectors.Channel, account, ext string) string {
	return k.p + tag + ":seen:" + string(ch) + ":" + account + ":" + ext
}

// customer is the customer profile hash. No TTL.
func (k keys) customer(id string) string { return k.p + "{u:" + id + "}" }

// customerIdentities is the set of "channel|account|type|value" handles of
// a customer (the 360° view). No TTL.
func (k keys) customerIdentities(id string) string { return k.p + "{u:" + id + "}:ids" }

// customerConversations orders a customer's conversations by creation
// time. No TTL.
func (k keys) customerConversations(id string) string { return k.p + "{u:" + id + "}:convs" }

// customerMerging is the journal of merges into a customer that are under
// way: loser id → "started ms|why". An entry lives from the decision until
// the merge is audited, so a retry finds unfinished work. No TTL.
func (k keys) customerMerging(id string) string { return k.p + "{u:" + id + "}:merging" }

// customerAudit is the stream of changes made to a customer on no agent's
// request (merges): who, why, when, from, into. No TTL, not trimmed.
func (k keys) customerAudit(id string) string { return k.p + "{u:" + id + "}:audit" }

// mergeLock lets one process at a time decide and carry out customer
// merges. Its value is the holder's token; 30 s lease, renewed per step.
func (k keys) mergeLock() string { return k.p + "merge:lock" }

// conv is the conversation (and ticket) hash. No TTL.
func (k keys) conv(id string) string { return k.p + "{c:" + id + "}" }

// convMessages is the transcript stream: inbound, outbound, notes, system.
// No TTL, not trimmed.
func (k keys) convMessages(id string) string { return k.p + "{c:" + id + "}:msgs" }

// convExternal holds the dedup keys already appended, so a replayed ingest
// appends once. No TTL.
func (k keys) convExternal(id string) string { return k.p + "{c:" + id + "}:ext" }

// convDelivery holds the delivery state of outbound messages as plain
// fields: <msg> (queued, sending, sent, failed), <msg>:err, :code, :at,
// :attempts, :ext and :lease. No TTL.
func (k keys) convDelivery(id string) string { return k.p + "{c:" + id + "}:delivery" }

// convIdem maps a client's idempotency key to the message it created.
// TTL idemTTL (24 hours).
func (k keys) convIdem(id, key string) string { return k.p + "{c:" + id + "}:idem:" + key }

// convHistory is the ticket's event history stream. No TTL.
func (k keys) convHistory(id string) string { return k.p + "{c:" + id + "}:history" }

// convLive is the pub/sub channel (no stream) of a conversation's live
// view: agents watching it get new messages and delivery changes.
func (k keys) convLive(id string) string { return k.p + "{c:" + id + "}:live" }

// ticketNumber maps a ticket number to its conversation. No TTL.
func (k keys) ticketNumber(n string) string { return k.p + "ticketno:" + n }

// ticketSeq is the ticket number sequence. No TTL.
func (k keys) ticketSeq() string { return k.p + "tickets:seq" }

// dispatch is the dispatch work stream (consumer group "dispatch").
// Trimmed to about 100,000 entries.
func (k keys) dispatch() string { return k.p + "{d}:dispatch" }

// queue orders the conversations waiting for an agent of one team by
// priority, then age. No TTL.
func (k keys) queue(team string) string { return k.p + "{d}:queue:" + team }

// queueMeta describes each waiting conversation:
// "team|rank|skills|enqueued ms|overflow team". No TTL.
func (k keys) queueMeta() string { return k.p + "{d}:qmeta" }

// overflow orders waiting conversations by the time they overflow to
// another team. No TTL.
func (k keys) overflow() string { return k.p + "{d}:overflow" }

// owner maps each assigned (active) conversation to its agent. No TTL.
func (k keys) owner() string { return k.p + "{d}:owner" }

// outbox is the outbound work stream (consumer group "outbox"). Trimmed
// to about 100,000 entries.
func (k keys) outbox() string { return k.p + "{o}:outbox" }

// retry orders outbound sends waiting for their next attempt. No TTL.
func (k keys) retry() string { return k.p + "{o}:retry" }

// index keys order conversations by last activity for the inbox lists:
// all conversations, open ones with no agent, non-closed ones per agent,
// and per status. No TTL.
func (k keys) indexAll() string               { return k.p + "{x}:all" }
func (k keys) indexUnassigned() string        { return k.p + "{x}:unassigned" }
func (k keys) indexAgent(agent string) string { return k.p + "{x}:agent:" + agent }
func (k keys) indexStatus(s string) string    { return k.p + "{x}:status:" + s }

// Telephone calls (calls.go). A call's keys share the tag {call:ID}, where
// ID (callID) hashes the CTI source and the PBX's call id, so the record
// script runs on one slot and ids are safe in keys and URLs.

// call is one call's record hash. TTL callTTL (400 days), renewed by
// every event of the call.
func (k keys) call(id string) string { return k.p + "{call:" + id + "}" }

// callUsers is the set of users the PBX named for a call (extensions,
// agent ids, e-mails or names), as it named them. TTL callTTL.
func (k keys) callUsers(id string) string { return k.p + "{call:" + id + "}:users" }

// callAgents is the set of agents a call popped up for: the rung agents,
// the answering agent, or the team's agents. TTL callTTL.
func (k keys) callAgents(id string) string { return k.p + "{call:" + id + "}:agents" }

// customerCalls orders a customer's calls by start time (ms), the newest
// 100 kept. No TTL.
func (k keys) customerCalls(id string) string { return k.p + "{u:" + id + "}:calls" }

// callsRecent orders every call by start time (ms), the newest 10,000
// kept. No TTL.
func (k keys) callsRecent() string { return k.p + "{calls}:recent" }

// callDay is one of a day's call KPI keys (day = YYYY-MM-DD in the
// configured time zone, of the call's start): the sets "in", "out",
// "answered" and "missed" of call ids, and the hash "talk" (call id → talk
// seconds). TTL callKPITTL (400 days).
func (k keys) callDay(day, what string) string { return k.p + "{kc:" + day + "}:" + what }

// Merge records and unmerges (mergerecord.go, unmerge.go). A merge's
// record lives on the winner's slot, so closing the merge (audit, record,
// journal) is one script.

// customerMergeRecord is the record of one merge into customer id (the
// winner), by the merge id's ULID part: who, when, why, state, and exactly
// what moved (i:HANDLE, c:CONV, k:CALL, was:FIELD and set:FIELD fields).
// No TTL: the history of the customer.
func (k keys) customerMergeRecord(id, ulid string) string {
	return k.p + "{u:" + id + "}:merge:" + ulid
}

// customerUnmerging is the journal of unmerges out of a customer (the
// winner of the merges) under way: merge id → started ms. An entry lives
// from the decision until the unmerge is audited. No TTL.
func (k keys) customerUnmerging(id string) string { return k.p + "{u:" + id + "}:unmerging" }

// customerUnmerged is the set of merge ids undone out of a customer: once
// it exists, ingest checks where the identity of a new conversation of
// the customer points (merge_check.lua). No TTL.
func (k keys) customerUnmerged(id string) string { return k.p + "{u:" + id + "}:unmerged" }

// SLA timers (sla.go). The wake-up set, the work stream and the set of
// tickets with live clocks share the tag {sla}, so the claim is one
// script.

// slaTimers orders conversations by their next SLA wake-up (ms). No TTL.
func (k keys) slaTimers() string { return k.p + "{sla}:timers" }

// slaWork is the SLA sync work stream (consumer group "sla"). Trimmed to
// about 100,000 entries.
func (k keys) slaWork() string { return k.p + "{sla}:work" }

// slaLive is the set of conversations with a running or paused SLA clock.
// No TTL.
func (k keys) slaLive() string { return k.p + "{sla}:live" }

// slaSweepLock lets one replica a minute sweep slaLive. TTL about a minute.
func (k keys) slaSweepLock() string { return k.p + "{sla}:sweep" }

// indexSLADue orders conversations with a running SLA clock by their
// earliest due time, for the lists' "sort by due". No TTL.
func (k keys) indexSLADue() string { return k.p + "{x}:sla_due" }

// activityDay is the set of conversations with any activity on day
// (YYYY-MM-DD in the configured time zone), which the KPIs read. TTL
// activityTTL (400 days).
func (k keys) activityDay(day string) string { return k.p + "{ka:" + day + "}" }

// surveySecret is the key of the survey tokens' MAC (hex). No TTL.
func (k keys) surveySecret() string { return k.p + "survey:secret" }

// customerTags is the set of a customer's tags (routing rules add them
// and match on them). No TTL.
func (k keys) customerTags(id string) string { return k.p + "{u:" + id + "}:tags" }

// convLock serializes one kind of work on a conversation across replicas
// (an SLA sync with its notices, a bot turn): the holder's token. TTL
// convLockTTL.
func (k keys) convLock(id, what string) string { return k.p + "{c:" + id + "}:lock:" + what }
