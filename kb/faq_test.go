package kb

import (
	"context"
	"testing"
)

// faq is a small shop's knowledge base in Chinese and English, as a
// supervisor would write it.
var faq = []Article{
	{ID: "zh-return", Lang: "zh", Title: "退货退款流程", Tags: []string{"退货", "退款", "售后"},
		Body: "## 如何申请退货\n签收后 7 天内，商品未使用、包装完好，可在「我的订单」中点击**申请退货**。\n\n## 退款多久到账\n仓库收到退货并验收后，退款将在 1–3 个工作日内原路退回。"},
	{ID: "zh-invoice", Lang: "zh", Title: "发票开具说明", Tags: []string{"发票", "开票"},
		Body: "我们提供电子普通发票和增值税专用发票。\n下单时在结算页填写发票抬头和税号即可开具；已下单的订单可在订单详情页点击「申请开票」补开发票。电子发票会在发货后 48 小时内发送到您的邮箱。"},
	{ID: "zh-tracking", Lang: "zh", Title: "物流查询：我的快递到哪了", Tags: []string{"物流", "快递"},
		Body: "订单发货后，在「我的订单」中点击**查看物流**即可看到快递公司和运单号，以及包裹的实时位置。一般发货后 1–3 天送达。"},
	{ID: "zh-address", Lang: "zh", Title: "修改收货地址", Tags: []string{"地址", "收货"},
		Body: "订单发货前可以修改收货地址：进入订单详情，点击「修改地址」。订单已发货的，请联系快递公司改派。"},
	{ID: "zh-points", Lang: "zh", Title: "会员积分规则", Tags: []string{"会员", "积分"},
		Body: "每消费 1 元累积 1 积分，积分可在下单时抵扣现金（100 积分抵 1 元）。积分有效期为 12 个月。退货后相应积分会被扣回。"},
	{ID: "zh-hours", Lang: "zh", Title: "客服营业时间", Tags: []string{"营业时间", "上班时间"},
		Body: "在线客服工作时间为每天 9:00–21:00（节假日照常）。非工作时间的留言，我们会在上班后尽快回复。"},
	{ID: "zh-password", Lang: "zh", Title: "忘记密码怎么办", Tags: []string{"密码", "登录", "账号"},
		Body: "在登录页点击「忘记密码」，输入注册手机号并填写短信验证码，即可重设密码。"},
	{ID: "zh-shipping", Lang: "zh", Title: "发货时间与运费", Tags: []string{"发货", "运费"},
		Body: "现货商品在付款后 24 小时内发货，预售商品以页面标注时间为准。订单满 99 元包邮，不满 99 元收取 8 元运费。"},
	{ID: "zh-cancel", Lang: "zh", Title: "取消订单", Tags: []string{"取消"},
		Body: "未发货的订单可在「我的订单」中直接取消，款项会原路退回。已发货的订单无法取消，请在签收后申请退货。"},
	{ID: "en-refund", Lang: "en", Title: "Returns and refunds", Tags: []string{"refund", "return"},
		Body: "You can return an unused item within 7 days of delivery. Open **My orders**, choose the order and click *Request a return*.\n\nOnce the warehouse has checked the returned item, your refund goes back to the original payment method within 1–3 working days."},
	{ID: "en-invoice", Lang: "en", Title: "Invoices", Tags: []string{"invoice", "VAT"},
		Body: "We issue electronic invoices. Enter your company name and tax number at checkout, or request an invoice later from the order details page. The invoice is emailed to you within 48 hours of shipping."},
	{ID: "en-tracking", Lang: "en", Title: "Tracking your parcel", Tags: []string{"tracking", "delivery"},
		Body: "Once your order has shipped, open **My orders** and click *Track parcel* to see the carrier, the tracking number and where your parcel is now."},
	{ID: "en-shipping", Lang: "en", Title: "Shipping times and costs", Tags: []string{"shipping", "delivery"},
		Body: "Items in stock ship within 24 hours of payment; delivery usually takes 1–3 days. Shipping is free on orders over ¥99; otherwise it costs ¥8."},
	{ID: "en-password", Lang: "en", Title: "Resetting your password", Tags: []string{"password", "login", "account"},
		Body: "On the sign-in page click [Forgot password](https://example.com/reset), enter your phone number and the code we text you, and choose a new password."},
	{ID: "en-hours", Lang: "en", Title: "Opening hours", Tags: []string{"hours"},
		Body: "Our support team is online every day from 9:00 to 21:00 China time, holidays included."},
	{ID: "en-address", Lang: "en", Title: "Changing the delivery address", Tags: []string{"address"},
		Body: "You can change the delivery address until the order ships: open the order details and click *Change address*."},
}

// faqCatalog is a catalog holding faq.
func faqCatalog(t testing.TB) *catalog {
	t.Helper()
	c, err := newCatalog()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	for _, a := range faq {
		if err := normalizeArticle(&a); err != nil {
			t.Fatalf("%s: %v", a.ID, err)
		}
		if err := c.putArticle(a); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestAnswerFAQ asks what customers type. A confident answer must be the
// right article; off-topic and ambiguous questions must not be confident.
func TestAnswerFAQ(t *testing.T) {
	t.Parallel()
	c := faqCatalog(t)
	cases := []struct {
		question, lang string
		want           string // the confident answer's id; "" for not confident
	}{
		{"我想退货怎么弄", "", "zh-return"},
		{"发票怎么开", "", "zh-invoice"},
		{"快递到哪了", "", "zh-tracking"},
		{"忘记密码了", "", "zh-password"},
		{"积分怎么用？", "", "zh-points"},
		{"修改地址", "", "zh-address"},
		{"运费多少", "", "zh-shipping"},
		{"请问退款多久到账呢", "", "zh-return"},
		{"how do I get a refund", "", "en-refund"},
		{"where is my parcel", "", "en-tracking"},
		{"I forgot my password", "", "en-password"},
		{"Can I change my address?", "", "en-address"},
		{"what are your opening hours", "", "en-hours"},
		{"returns", "en", "en-refund"},      // stemmed: returns → return
		{"ＲＥＦＵＮＤ", "", "en-refund"},         // full-width letters
		{"我想退货怎么弄", "zh", "zh-return"},      // in the asked language
		{"how do I get a refund", "zh", ""}, // no English article in Chinese
		{"你们老板是谁", "", ""},
		{"asdfgh", "", ""},
		{"今天天气怎么样", "", ""},
		{"hello", "", ""},
		{"你好", "", ""},
		{"", "", ""},
		{"what is the meaning of life", "", ""},
		{"退货运费谁出", "", ""}, // two articles hold half of it each
		{"你们几点上班", "", ""}, // half of it: not sure enough
	}
	for _, tc := range cases {
		m, err := c.match(context.Background(), tc.question, tc.lang)
		if err != nil {
			t.Fatalf("%q: %v", tc.question, err)
		}
		confident := BotConfig{}.Judge(m.score, m.runner)
		switch {
		case tc.want != "" && (!confident || m.id != tc.want):
			t.Errorf("%q (lang %q): best %q score %.2f runner %.2f confident %v; want a confident %s",
				tc.question, tc.lang, m.id, m.score, m.runner, confident, tc.want)
		case tc.want == "" && confident:
			t.Errorf("%q (lang %q): confident answer %s (score %.2f, runner %.2f); want none",
				tc.question, tc.lang, m.id, m.score, m.runner)
		}
		if m.score < 0 || m.score > 1 || m.runner < 0 || m.runner > m.score {
			t.Errorf("%q: score %.3f runner %.3f out of 0 ≤ runner ≤ score ≤ 1", tc.question, m.score, m.runner)
		}
	}
}

// TestAnswerThresholds: the same match is confident or not as the
// thresholds say.
func TestAnswerThresholds(t *testing.T) {
	t.Parallel()
	c := faqCatalog(t)
	m, err := c.match(context.Background(), "我想退货怎么弄", "")
	if err != nil || m.id != "zh-return" {
		t.Fatalf("match: %+v %v", m, err)
	}
	for _, tc := range []struct {
		cfg  BotConfig
		want bool
	}{
		{BotConfig{}, true},
		{BotConfig{MinScore: 0.99}, m.score >= 0.99},
		{BotConfig{Margin: 0.99}, false}, // the runner-up holds 退货 too
		{BotConfig{Margin: m.score - m.runner}, true},
	} {
		if got := tc.cfg.Judge(m.score, m.runner); got != tc.want {
			t.Errorf("%+v judges score %.2f runner %.2f: %v, want %v", tc.cfg, m.score, m.runner, got, tc.want)
		}
	}
}
