package router

import (
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// maxPhoneLen bounds what RegionOfPhone parses: an E.164 number has at
// most 16 characters, and the parser's work grows with its input.
const maxPhoneLen = 32

// provinces maps the start of libphonenumber's Chinese place names
// ("广东省深圳市", "新疆乌鲁木齐市") to ISO 3166-2:CN codes.
var provinces = []struct{ name, code string }{
	{"北京", "CN-BJ"}, {"天津", "CN-TJ"}, {"上海", "CN-SH"}, {"重庆", "CN-CQ"},
	{"河北", "CN-HE"}, {"山西", "CN-SX"}, {"辽宁", "CN-LN"}, {"吉林", "CN-JL"},
	{"黑龙江", "CN-HL"}, {"江苏", "CN-JS"}, {"浙江", "CN-ZJ"}, {"安徽", "CN-AH"},
	{"福建", "CN-FJ"}, {"江西", "CN-JX"}, {"山东", "CN-SD"}, {"河南", "CN-HA"},
	{"湖北", "CN-HB"}, {"湖南", "CN-HN"}, {"广东", "CN-GD"}, {"海南", "CN-HI"},
	{"四川", "CN-SC"}, {"贵州", "CN-GZ"}, {"云南", "CN-YN"}, {"陕西", "CN-SN"},
	{"甘肃", "CN-GS"}, {"青海", "CN-QH"}, {"内蒙古", "CN-NM"}, {"广西", "CN-GX"},
	{"西藏", "CN-XZ"}, {"宁夏", "CN-NX"}, {"新疆", "CN-XJ"},
}

// RegionOfPhone returns the region of a telephone number in E.164
// ("+862150123456"), as routing rules' region condition reads it:
//
//   - a mainland landline: the ISO 3166-2 code of the province its area
//     code belongs to ("CN-SH"), from libphonenumber's geocoding data;
//   - any other mainland number (mobile, 400 and 800 numbers): "CN", since
//     a mobile number says where it was bought, not where its owner is;
//   - a number of another country or region: its ISO code ("HK", "US");
//   - anything that is not a valid number: "".
//
// The first landline loads the geocoding data (some megabytes, once).
func RegionOfPhone(e164 string) string {
	if !strings.HasPrefix(e164, "+") || len(e164) > maxPhoneLen {
		return ""
	}
	n, err := phonenumbers.Parse(e164, "")
	if err != nil || !phonenumbers.IsValidNumber(n) {
		return ""
	}
	region := phonenumbers.GetRegionCodeForNumber(n)
	switch {
	case len(region) != 2 || region == "ZZ": // "001" for +800 and other non-geographic codes
		return ""
	case region != "CN":
		return region
	}
	if t := phonenumbers.GetNumberType(n); t != phonenumbers.FIXED_LINE && t != phonenumbers.FIXED_LINE_OR_MOBILE {
		return "CN"
	}
	place, err := phonenumbers.GetGeocodingForNumber(n, "zh")
	if err != nil {
		return "CN"
	}
	for _, p := range provinces {
		if strings.HasPrefix(place, p.name) {
			return p.code
		}
	}
	return "CN"
}
