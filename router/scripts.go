package router

import (
	"embed"

	"switchboard/internal/rdb"
)

//go:embed lua/*.lua
var luaFiles embed.FS

func script(name string) *rdb.Script {
	src, err := luaFiles.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic("router: missing script " + name)
	}
	return rdb.NewScript(string(src))
}

// The router's Lua scripts; each file's header lists its KEYS and ARGV.
var (
	ingestIdentityLua = script("ingest_identity")
	appendInboundLua  = script("append_inbound")
	appendOutboundLua = script("append_outbound")
	setFieldsLua      = script("set_fields")
	openTicketLua     = script("open_ticket")
	claimSendLua      = script("claim_send")
	forgetIdentityLua = script("forget_identity")
	claimLua          = script("claim")
	backfillLua       = script("backfill")
	releaseLua        = script("release")
	assignLua         = script("assign")
	overflowLua       = script("overflow")
	retryDueLua       = script("retry_due")
	// Customer profiles and merges (profile.go, merge.go).
	pointIdentityLua    = script("point_identity")
	attachCustomerLua   = script("attach_customer")
	moveConversationLua = script("move_conversation")
	setProfileLua       = script("set_profile")
	mergeProfileLua     = script("merge_profile")
	mergeDoneLua        = script("merge_done")
	mergeLockLua        = script("merge_lock")
	renameConvLua       = script("rename_conversation")
	// SLA timers (sla.go).
	slaReadLua   = script("sla_read")
	slaCommitLua = script("sla_commit")
	slaClaimLua  = script("sla_claim")
	// KPIs (kpi_source.go).
	kpiReadLua = script("kpi_read")
	// Surveys (survey.go).
	surveyAskLua    = script("survey_ask")
	surveyAnswerLua = script("survey_answer")
)

var allScripts = []*rdb.Script{ingestIdentityLua, appendInboundLua, appendOutboundLua, setFieldsLua,
	openTicketLua, claimSendLua, forgetIdentityLua, claimLua, backfillLua, releaseLua, assignLua,
	overflowLua, retryDueLua, pointIdentityLua, attachCustomerLua, moveConversationLua, setProfileLua,
	mergeProfileLua, mergeDoneLua, mergeLockLua, renameConvLua, slaReadLua, slaCommitLua, slaClaimLua, kpiReadLua, surveyAskLua, surveyAnswerLua}
