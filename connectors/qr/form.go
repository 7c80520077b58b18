package qr

import (
	"context"
	"errors"
	"net/http"

	"switchboard/connectors"
	"switchboard/connectors/qr/codes"
)

// formPage is the self-service form of one code.
type formPage struct {
	frame
	assetView
	Action string
	Token  string
	// Inputs are the description and the code's own fields, Contact the
	// name, phone and e-mail.
	Inputs, Contact []input
	// Photos offers the photo input, with its hint and limits (for the
	// optional check in form.js).
	Photos                       bool
	PhotosHint                   string
	MaxPhotos                    int
	MaxPhotoBytes, MaxTotalBytes int64
	// Problems is set when the form comes back with errors; HadPhotos
	// when it had photos, which the customer must choose again.
	Problems, HadPhotos bool
}

// assetView is the asset as the pages show it.
type assetView struct{ AssetName, AssetSerial, AssetSite, AssetAddress string }

func viewOf(a codes.Asset) assetView {
	return assetView{AssetName: a.Name, AssetSerial: a.Serial, AssetSite: a.Site, AssetAddress: a.Address}
}

// input is one input of the form.
type input struct {
	Name, Label, Hint string
	// Choose is a select's empty choice.
	Choose string
	// Kind is textarea, text, tel, email or select.
	Kind         string
	Value        string
	Options      []option
	Required     bool
	MaxLen       int
	Autocomplete string
	Error        string
}

type option struct {
	Value    string
	Selected bool
}

// liveCode finds an enabled code. When there is none it returns the
// page to show instead: 404 for an unknown code, 410 for a disabled one.
func (c *Connector) liveCode(ctx context.Context, lang, id string) (codes.Code, *connectors.Response, error) {
	path := "/s/" + id
	code, err := c.codes.Get(ctx, id)
	switch {
	case errors.Is(err, codes.ErrNotFound):
		resp, err := c.refusalPage(lang, path, http.StatusNotFound, "")
		return code, resp, err
	case err != nil:
		resp, err := c.unavailable(lang, path, "", err)
		return code, resp, err
	case code.Disabled:
		resp, err := c.refusalPage(lang, path, http.StatusGone, "")
		return code, resp, err
	}
	return code, nil, nil
}

// unavailable logs err and tells the customer that nothing was sent. The
// log names a tracking page by its tokenRef, never by its token.
func (c *Connector) unavailable(lang, path, back string, err error) (*connectors.Response, error) {
	c.env.Log.Error("qr: request failed", "path", RedactPath(path), "err", redact(err))
	return c.refusalPage(lang, path, http.StatusServiceUnavailable, back)
}

// form serves GET /s/{code}.
func (c *Connector) form(ctx context.Context, r *connectors.Request) (*connectors.Response, error) {
	lang := pickLang(r)
	code, page, err := c.liveCode(ctx, lang, r.Params["code"])
	if page != nil || err != nil {
		return page, err
	}
	key, err := c.secret.get(ctx)
	if err != nil {
		return c.unavailable(lang, "/s/"+code.Code, "", err)
	}
	return c.renderForm(http.StatusOK, lang, code, formToken(key, code.Code, c.now()), nil, nil, false)
}

// photosAllowed reports whether the form takes photos: there is a blob
// store to keep them and max_photos is not 0.
func (c *Connector) photosAllowed() bool { return c.env.Blobs != nil && c.cfg.MaxPhotos > 0 }

// limits are the form's photo limits.
func (c *Connector) limits() limits {
	l := limits{maxPhotos: c.cfg.MaxPhotos, maxPhoto: c.cfg.MaxPhotoBytes, maxTotal: c.cfg.MaxTotalBytes}
	if !c.photosAllowed() {
		l.maxPhotos = 0
	}
	if c.env.Blobs != nil {
		l.maxPhoto = min(l.maxPhoto, c.env.Blobs.MaxBlob())
	}
	return l
}

// renderForm renders the form with values and problems (both nil for a
// fresh form).
func (c *Connector) renderForm(status int, lang string, code codes.Code, token string, values map[string]string,
	bad map[string]problem, hadPhotos bool) (*connectors.Response, error) {
	path := "/s/" + code.Code
	l := c.limits()
	p := formPage{frame: newFrame(lang, path, "form_title"), assetView: viewOf(code.Asset), Action: path + langQuery(lang), Token: token,
		Photos: l.maxPhotos > 0, MaxPhotos: l.maxPhotos, MaxPhotoBytes: l.maxPhoto, MaxTotalBytes: l.maxTotal,
		PhotosHint: tr(lang, "photos_hint", l.maxPhotos, sizeText(l.maxPhoto), sizeText(l.maxTotal)),
		Problems:   len(bad) > 0, HadPhotos: hadPhotos}
	errText := func(name string) string {
		if pr, ok := bad[name]; ok {
			if pr.arg != 0 {
				return tr(lang, pr.key, pr.arg)
			}
			return tr(lang, pr.key)
		}
		return ""
	}
	p.Inputs = append(p.Inputs, input{Name: "description", Label: tr(lang, "description"), Hint: tr(lang, "description_hint"),
		Kind: "textarea", Value: values["description"], Required: true, MaxLen: maxDescription, Error: errText("description")})
	for _, f := range code.Fields {
		in := input{Name: f.Key, Label: f.Label.In(lang), Kind: "text", Value: values[f.Key], Required: f.Required,
			MaxLen: maxAnswer, Error: errText(f.Key)}
		if f.Type == codes.TypeSelect {
			in.Kind, in.Choose = "select", tr(lang, "choose")
			for _, o := range f.Options {
				in.Options = append(in.Options, option{Value: o, Selected: o == values[f.Key]})
			}
		}
		p.Inputs = append(p.Inputs, in)
	}
	p.Contact = []input{
		{Name: "name", Label: tr(lang, "name"), Kind: "text", Value: values["name"], MaxLen: maxName, Autocomplete: "name", Error: errText("name")},
		{Name: "phone", Label: tr(lang, "phone"), Kind: "tel", Value: values["phone"], MaxLen: maxPhoneInput, Autocomplete: "tel", Error: errText("phone")},
		{Name: "email", Label: tr(lang, "email"), Kind: "email", Value: values["email"], MaxLen: maxEmail, Autocomplete: "email", Error: errText("email")},
	}
	return render(status, "form", p)
}
