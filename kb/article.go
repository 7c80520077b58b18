package kb

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Limits on what the knowledge base holds.
const (
	MaxTitleRunes   = 200       // characters of a title
	MaxBodyBytes    = 64 << 10  // bytes of an article's Markdown body
	MaxCannedBytes  = 16 << 10  // bytes of a canned reply's body
	MaxTags         = 20        // tags of one article or canned reply
	MaxTagRunes     = 50        // characters of one tag
	MaxArticles     = 10_000    // articles in the knowledge base
	MaxCanned       = 2_000     // canned replies
	MaxShortcutRune = 32        // characters of a canned reply's shortcut
	maxIDLen        = 64        // bytes of an id
	maxTombstones   = 1_000     // deletions remembered for replicas catching up
	maxLangLen      = 8         // bytes of a language code
	anyLang         = "any"     // the indexed language of an article with none
	pageSize        = 100       // items read from Redis per sync round trip
	searchMaxLimit  = 50        // hits one search returns at most
	listMaxLimit    = MaxCanned // items one list returns at most
)

// Errors of the knowledge base. Validation errors wrap ErrInvalid or
// ErrTooLarge and say which field is wrong.
var (
	// ErrNotFound is an unknown article or canned reply.
	ErrNotFound = errors.New("kb: not found")
	// ErrInvalid is input that breaks a rule (an empty title, a bad
	// language code, a malformed shortcut).
	ErrInvalid = errors.New("kb: invalid input")
	// ErrTooLarge is a field over its limit (MaxTitleRunes, MaxBodyBytes,
	// MaxTags, …).
	ErrTooLarge = errors.New("kb: too large")
	// ErrFull is a create beyond MaxArticles or MaxCanned.
	ErrFull = errors.New("kb: the knowledge base is full")
	// ErrShortcutTaken is a canned reply's shortcut that another one has.
	ErrShortcutTaken = errors.New("kb: shortcut taken")
)

// Article is one knowledge-base article.
type Article struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Body is Markdown. It is indexed as plain text (PlainText).
	Body string `json:"body"`
	// Lang is a language code such as "zh" or "en" (lower case, region
	// dropped: "zh-CN" is kept as "zh"); empty means every language.
	Lang      string    `json:"lang"`
	Tags      []string  `json:"tags"`
	UpdatedAt time.Time `json:"updated_at"`
	// UpdatedBy is the agent id of the last change.
	UpdatedBy string `json:"updated_by,omitempty"`
}

// Canned is one canned reply: a text agents insert into a reply, with
// placeholders that Render fills in.
type Canned struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	// Body is plain text with placeholders such as {{customer.name}}.
	Body string `json:"body"`
	Lang string `json:"lang"`
	// Shortcut is what an agent types after "/" in the reply box: letters,
	// digits, "_" and "-" (Chinese characters too), lower case, unique.
	Shortcut  string    `json:"shortcut,omitempty"`
	Tags      []string  `json:"tags"`
	UpdatedAt time.Time `json:"updated_at"`
	UpdatedBy string    `json:"updated_by,omitempty"`
}

var (
	idRe       = regexp.MustCompile(`^[0-9A-Za-z_-]{1,64}$`)
	langRe     = regexp.MustCompile(`^[a-z]{2,3}$`)
	shortcutRe = regexp.MustCompile(`^[\p{L}\p{N}_-]+$`)
)

// validID reports whether id can name an item (anything else is unknown).
func validID(id string) bool { return len(id) <= maxIDLen && idRe.MatchString(id) }

// NormalizeLang turns a language tag into the code the knowledge base
// keeps: "zh-CN" → "zh", "EN" → "en"; "" stays "". A tag that is not a
// language code is ErrInvalid.
func NormalizeLang(tag string) (string, error) {
	tag = strings.TrimSpace(tag)
	if tag == "" {
		return "", nil
	}
	base, _, _ := strings.Cut(strings.ReplaceAll(tag, "_", "-"), "-")
	base = strings.ToLower(base)
	if len(tag) > 35 || !langRe.MatchString(base) {
		return "", fmt.Errorf("%w: lang %q is not a language code such as zh or en", ErrInvalid, clip(tag))
	}
	return base, nil
}

// checkText checks a title and a body of at most maxBody bytes, trimming
// the title's spaces.
func checkText(title *string, body string, maxBody int) error {
	*title = strings.TrimSpace(*title)
	switch {
	case *title == "":
		return fmt.Errorf("%w: title is empty", ErrInvalid)
	case !utf8.ValidString(*title) || !utf8.ValidString(body):
		return fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	case hasControl(*title):
		return fmt.Errorf("%w: title has control characters", ErrInvalid)
	case utf8.RuneCountInString(*title) > MaxTitleRunes:
		return fmt.Errorf("%w: title has %d characters, at most %d", ErrTooLarge, utf8.RuneCountInString(*title), MaxTitleRunes)
	case strings.TrimSpace(body) == "":
		return fmt.Errorf("%w: body is empty", ErrInvalid)
	case len(body) > maxBody:
		return fmt.Errorf("%w: body has %d bytes, at most %d", ErrTooLarge, len(body), maxBody)
	}
	return nil
}

// normalizeTags trims tags, drops empty ones and repeats (case-folded),
// and checks the limits.
func normalizeTags(tags []string) ([]string, error) {
	out := make([]string, 0, len(tags))
	seen := map[string]bool{}
	for _, t := range tags {
		t = strings.TrimSpace(t)
		k := strings.ToLower(t)
		if t == "" || seen[k] {
			continue
		}
		switch {
		case !utf8.ValidString(t) || hasControl(t):
			return nil, fmt.Errorf("%w: tag %q has control characters or is not UTF-8", ErrInvalid, clip(t))
		case utf8.RuneCountInString(t) > MaxTagRunes:
			return nil, fmt.Errorf("%w: tag %q has more than %d characters", ErrTooLarge, clip(t), MaxTagRunes)
		}
		seen[k] = true
		out = append(out, t)
	}
	if len(out) > MaxTags {
		return nil, fmt.Errorf("%w: %d tags, at most %d", ErrTooLarge, len(out), MaxTags)
	}
	return out, nil
}

// normalizeArticle checks a and puts it in the form it is stored in.
func normalizeArticle(a *Article) error {
	if err := checkText(&a.Title, a.Body, MaxBodyBytes); err != nil {
		return err
	}
	var err error
	if a.Lang, err = NormalizeLang(a.Lang); err != nil {
		return err
	}
	a.Tags, err = normalizeTags(a.Tags)
	return err
}

// normalizeCanned checks c and puts it in the form it is stored in.
func normalizeCanned(c *Canned) error {
	if err := checkText(&c.Title, c.Body, MaxCannedBytes); err != nil {
		return err
	}
	var err error
	if c.Lang, err = NormalizeLang(c.Lang); err != nil {
		return err
	}
	if c.Tags, err = normalizeTags(c.Tags); err != nil {
		return err
	}
	c.Shortcut = strings.ToLower(strings.TrimPrefix(strings.TrimSpace(c.Shortcut), "/"))
	switch {
	case c.Shortcut == "":
	case utf8.RuneCountInString(c.Shortcut) > MaxShortcutRune:
		return fmt.Errorf("%w: shortcut has more than %d characters", ErrTooLarge, MaxShortcutRune)
	case !shortcutRe.MatchString(c.Shortcut):
		return fmt.Errorf("%w: shortcut %q may have letters, digits, _ and - only", ErrInvalid, clip(c.Shortcut))
	}
	return nil
}

func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}

// clip shortens a value quoted in an error message.
func clip(s string) string {
	const n = 40
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}

// langMatches reports whether an item in language have is shown for a
// request in want ("" wants every language; an item with none is shown
// for every language).
func langMatches(have, want string) bool { return want == "" || have == "" || have == want }
