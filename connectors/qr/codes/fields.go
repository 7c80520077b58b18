package codes

// Message fields a code contributes, on the form's messages and on WeChat
// scans of the code. Routing rules match FieldAsset; FieldTeam is the
// team the conversation goes to when no rule matches.
const (
	FieldCode     = "qr_code"
	FieldAsset    = "asset"
	FieldName     = "asset_name"
	FieldSerial   = "asset_serial"
	FieldCategory = "asset_category"
	FieldSite     = "asset_site"
	FieldAddress  = "asset_address"
	FieldTeam     = "team"
	// FieldPrefix starts the keys of the answers to a code's own fields:
	// field.<key>.
	FieldPrefix = "field."
)

// MessageFields are the fields a message about c carries: the code, the
// asset's details, the routing key (asset = the category) and the team.
// Empty details are left out.
func MessageFields(c Code) map[string]string {
	f := map[string]string{FieldCode: c.Code}
	for k, v := range map[string]string{FieldAsset: c.Asset.Category, FieldName: c.Asset.Name,
		FieldSerial: c.Asset.Serial, FieldCategory: c.Asset.Category, FieldSite: c.Asset.Site,
		FieldAddress: c.Asset.Address, FieldTeam: c.Team} {
		if v != "" {
			f[k] = v
		}
	}
	return f
}
