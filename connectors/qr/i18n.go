package qr

import (
	"fmt"
	"net/http"

	"golang.org/x/text/language"

	"switchboard/connectors"
)

// The pages speak Chinese and English: ?lang= when given (the switch on
// every page), else the browser's Accept-Language, else Chinese.
var langMatcher = language.NewMatcher([]language.Tag{language.Chinese, language.English})

// pickLang returns "zh" or "en" for a request.
func pickLang(r *connectors.Request) string {
	switch r.Query.Get("lang") {
	case "zh", "en":
		return r.Query.Get("lang")
	}
	tags, _, err := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	if err != nil || len(tags) == 0 {
		return "zh"
	}
	tag, _, conf := langMatcher.Match(tags...)
	if base, _ := tag.Base(); base.String() == "en" && conf != language.No {
		return "en"
	}
	return "zh"
}

// other is the language the switch offers.
func other(lang string) string {
	if lang == "en" {
		return "zh"
	}
	return "en"
}

// text is the pages' wording in one language.
type text map[string]string

// tr returns the wording of key in lang, formatted with args.
func tr(lang, key string, args ...any) string {
	s, ok := texts[lang][key]
	if !ok {
		s = texts["zh"][key]
	}
	if len(args) > 0 {
		return fmt.Sprintf(s, args...)
	}
	return s
}

var texts = map[string]text{
	"zh": {
		"lang_name": "中文", "switch": "English",
		"form_title": "报修与咨询", "form_intro": "请告诉我们遇到了什么问题，我们会尽快处理。",
		"asset": "设备 / 位置", "serial": "编号", "site": "地点", "address": "地址",
		"description": "问题描述", "description_hint": "发生了什么？请尽量描述清楚。",
		"photos": "照片", "photos_hint": "可选，最多 %d 张 JPEG、PNG 或 WebP 照片，每张不超过 %s，合计不超过 %s。",
		"contact": "联系方式", "contact_hint": "可选：留下手机号码或电子邮箱，方便我们联系您。",
		"phone": "手机号码", "email": "电子邮箱", "name": "您的称呼",
		"optional": "可选", "required": "必填", "choose": "请选择…", "submit": "提交",
		"errors_above": "请检查以下标出的内容。", "photos_again": "如需附上照片，请重新选择。",
		"err_description": "请填写问题描述。", "err_description_long": "问题描述不能超过 %d 个字。",
		"err_phone": "请填写有效的手机号码。", "err_email": "请填写有效的电子邮箱地址。",
		"err_name": "称呼不能超过 %d 个字。", "err_required": "此项为必填项。",
		"err_option": "请从列表中选择。", "err_long": "不能超过 %d 个字。", "err_text": "包含无法识别的字符。",
		"notfound_title": "未找到", "notfound_body": "此二维码无效。请确认您扫描的是我们张贴的二维码。",
		"disabled_title": "此二维码已停用", "disabled_body": "此二维码已停止使用，您的信息未被提交。请联系现场工作人员或通过其他渠道联系我们。",
		"toolarge_title": "照片太大", "toolarge_body": "您上传的照片太大或数量太多：最多 %d 张，每张不超过 %s，合计不超过 %s。您的信息未被提交，请返回重试。",
		"type_title": "不支持的照片格式", "type_body": "请上传 JPEG、PNG 或 WebP 格式的照片（iPhone 的 HEIC 照片请在“设置 → 相机 → 格式”中选择“兼容性最佳”）。您的信息未被提交，请返回重试。",
		"bad_title": "无法读取表单", "bad_body": "表单内容无法识别，您的信息未被提交。请返回重试。",
		"expired_title": "页面已过期", "expired_body": "此页面已过期或不是由本站生成。您的信息未被提交，请重新扫码或刷新页面后再试。",
		"rate_title": "提交太频繁", "rate_body": "提交次数过多，请稍后再试。您的信息未被提交。",
		"unavailable_title": "暂时无法提交", "unavailable_body": "系统暂时繁忙，您的信息未被提交。请稍后重试。",
		"back":        "返回",
		"track_title": "我的报修", "track_keep": "请收藏此页面：您可以在这里查看处理进度、客服回复，并补充说明。",
		"ticket": "工单号", "ticket_pending": "正在登记", "status": "状态",
		"status_new": "已收到", "status_open": "处理中", "status_pending": "等待您的回复", "status_resolved": "已解决",
		"status_closed": "已关闭", "status_unknown": "已收到",
		"you": "您", "agent": "客服", "photos_count": "%d 张照片",
		"add_message": "补充说明", "send": "发送", "refresh": "刷新",
		"err_message": "请填写内容。", "err_message_long": "内容不能超过 %d 个字。",
		"track_gone_title": "链接无效", "track_gone_body": "此查询链接无效或已过期。",
		"notice_subject": "您的报修有新回复", "notice_subject_asset": "您的报修有新回复：%s",
		"notice_hello": "您好：", "notice_hello_name": "%s，您好：",
		"notice_replied": "%s 回复了您的报修：", "notice_replied_asset": "%s 回复了您关于「%s」的报修：",
		"notice_ticket": "工单号：%s",
		"notice_open":   "请打开您的报修页面查看进度、回复客服：",
		"notice_auto":   "这是一封自动发送的邮件。请在报修页面回复：直接回复此邮件会作为一封新邮件处理，不会加入您的报修。",
		"survey_lead":   "点击分数即可评分：", "survey_score": "%d 分", "survey_sep": "：",
		"survey_csat_low": "非常不满意", "survey_csat_high": "非常满意", "survey_nps_low": "完全不可能", "survey_nps_high": "非常可能",
	},
	"en": {
		"lang_name": "English", "switch": "中文",
		"form_title": "Report a problem", "form_intro": "Tell us what is wrong and we will take care of it.",
		"asset": "Device / place", "serial": "Serial no.", "site": "Site", "address": "Address",
		"description": "What is wrong?", "description_hint": "Please describe what happened.",
		"photos": "Photos", "photos_hint": "Optional: up to %d JPEG, PNG or WebP photos, %s each and %s in all.",
		"contact": "How to reach you", "contact_hint": "Optional: a phone number or an e-mail address, so we can reach you.",
		"phone": "Phone", "email": "E-mail", "name": "Your name",
		"optional": "optional", "required": "required", "choose": "Choose…", "submit": "Send",
		"errors_above": "Please check the marked entries.", "photos_again": "To attach photos, please choose them again.",
		"err_description": "Please describe the problem.", "err_description_long": "The description may have at most %d characters.",
		"err_phone": "Please enter a valid phone number.", "err_email": "Please enter a valid e-mail address.",
		"err_name": "The name may have at most %d characters.", "err_required": "This is required.",
		"err_option": "Please choose from the list.", "err_long": "At most %d characters.", "err_text": "This has characters that cannot be read.",
		"notfound_title": "Not found", "notfound_body": "This QR code is not valid. Please check that you scanned one of our codes.",
		"disabled_title": "This QR code is out of service", "disabled_body": "This QR code is no longer in use and nothing was sent. Please ask the staff on site or contact us another way.",
		"toolarge_title": "Photos too large", "toolarge_body": "The photos are too large or too many: at most %d, %s each and %s in all. Nothing was sent; please go back and try again.",
		"type_title": "Photo format not supported", "type_body": "Please attach JPEG, PNG or WebP photos (on an iPhone, choose Settings → Camera → Formats → Most Compatible for HEIC photos). Nothing was sent; please go back and try again.",
		"bad_title": "The form could not be read", "bad_body": "The form could not be read and nothing was sent. Please go back and try again.",
		"expired_title": "This page has expired", "expired_body": "This page has expired or was not made by this site. Nothing was sent; please scan the code again or reload the page.",
		"rate_title": "Too many reports", "rate_body": "Too many reports were sent. Please try again later. Nothing was sent.",
		"unavailable_title": "Cannot send right now", "unavailable_body": "The system is busy and nothing was sent. Please try again in a moment.",
		"back":        "Back",
		"track_title": "Your request", "track_keep": "Bookmark this page: it shows the progress and our replies, and you can add to your request here.",
		"ticket": "Ticket", "ticket_pending": "being registered", "status": "Status",
		"status_new": "Received", "status_open": "In progress", "status_pending": "Waiting for your reply", "status_resolved": "Resolved",
		"status_closed": "Closed", "status_unknown": "Received",
		"you": "You", "agent": "Support", "photos_count": "%d photo(s)",
		"add_message": "Add a message", "send": "Send", "refresh": "Refresh",
		"err_message": "Please write something.", "err_message_long": "At most %d characters.",
		"track_gone_title": "Link not valid", "track_gone_body": "This tracking link is not valid or has expired.",
		"notice_subject": "New reply to your report", "notice_subject_asset": "New reply to your report: %s",
		"notice_hello": "Hello,", "notice_hello_name": "Hello %s,",
		"notice_replied": "%s replied to your report:", "notice_replied_asset": "%s replied to your report about “%s”:",
		"notice_ticket": "Ticket: %s",
		"notice_open":   "To see its progress and to answer, open your report's page:",
		"notice_auto":   "This mail was sent automatically. Please answer on your report's page: an answer to this mail reaches us as a new mail, not as part of your report.",
		"survey_lead":   "Tap a score to rate:", "survey_score": "Score %d", "survey_sep": ": ",
		"survey_csat_low": "Very dissatisfied", "survey_csat_high": "Very satisfied", "survey_nps_low": "Not at all likely", "survey_nps_high": "Extremely likely",
	},
}

// statusText names a ticket status for customers.
func statusText(lang, status string) string {
	switch status {
	case "new", "open", "pending", "resolved", "closed":
		return tr(lang, "status_"+status)
	}
	return tr(lang, "status_unknown")
}

// sizeText writes a byte count as "8 MB".
func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MB", n>>20)
	}
	if n >= 1<<20 {
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KB", n>>10)
}

// langQuery is the query that keeps a page's language.
func langQuery(lang string) string { return "?lang=" + lang }

// httpStatusTitles maps a refusal's status to its page's wording.
var httpStatusTitles = map[int]string{
	http.StatusNotFound: "notfound", http.StatusGone: "disabled", http.StatusRequestEntityTooLarge: "toolarge",
	http.StatusUnsupportedMediaType: "type", http.StatusBadRequest: "bad", http.StatusForbidden: "expired",
	http.StatusTooManyRequests: "rate", http.StatusServiceUnavailable: "unavailable",
}
