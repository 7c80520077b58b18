package mailparse

import (
	"bytes"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
)

// decodeWords decodes the RFC 2047 encoded-words in a header value. Adjacent
// words (only whitespace between them) in the same charset are decoded as
// one byte string, so a character split across two words survives; the
// whitespace between adjacent words is dropped. Words glued to text (a
// common violation) are decoded too. What is not a well-formed word stays
// as it is.
func decodeWords(s string) string {
	if !strings.Contains(s, "=?") {
		return validUTF8(s)
	}
	var out strings.Builder
	var pend []byte // bytes of the current run of adjacent words
	pendCS := ""    // their charset
	inRun := false  // the last thing written was a word
	flush := func() {
		if inRun {
			d, _ := decodeCharset(pendCS, pend)
			out.WriteString(d)
		}
		pend, pendCS, inRun = pend[:0], "", false
	}
	i := 0
	for i < len(s) {
		j := strings.Index(s[i:], "=?")
		if j < 0 {
			break
		}
		start := i + j
		cs, data, end, ok := parseWord(s, start)
		if !ok {
			flush()
			out.WriteString(s[i : start+2])
			i = start + 2
			continue
		}
		between := s[i:start]
		adjacent := inRun && strings.TrimLeft(between, " \t\r\n") == ""
		switch {
		case adjacent && strings.EqualFold(cs, pendCS):
			// Same run: the bytes join up, the whitespace is dropped.
		case adjacent:
			flush() // another charset: a new run, still no space between
		default:
			flush()
			out.WriteString(between)
		}
		pend = append(pend, data...)
		pendCS, inRun = cs, true
		i = end
	}
	flush()
	out.WriteString(s[i:])
	return validUTF8(out.String())
}

// Bounds of an encoded-word. RFC 2047 allows 75 bytes in all; real mail
// sometimes has longer words, never this long.
const (
	maxCharsetLen = 64
	maxWordLen    = 4096
)

// parseWord reads the encoded-word that starts at s[start] ("=?"). It returns
// the charset label, the decoded bytes and the index after the closing "?=".
func parseWord(s string, start int) (cs string, data []byte, end int, ok bool) {
	rest := s[start+2:]
	// Searches are bounded so that many "=?" without an end stay linear.
	q := strings.IndexByte(rest[:min(len(rest), maxCharsetLen+1)], '?')
	if q <= 0 || strings.ContainsAny(rest[:q], " \t\r\n\"") {
		return "", nil, 0, false
	}
	cs = rest[:q]
	if k := strings.IndexByte(cs, '*'); k >= 0 { // RFC 2231 language suffix
		cs = cs[:k]
	}
	rest = rest[q+1:]
	if len(rest) < 2 || rest[1] != '?' {
		return "", nil, 0, false
	}
	enc := rest[0] | 0x20
	if enc != 'b' && enc != 'q' {
		return "", nil, 0, false
	}
	rest = rest[2:]
	e := strings.Index(rest[:min(len(rest), maxWordLen)], "?=")
	if e < 0 {
		return "", nil, 0, false
	}
	text := rest[:e]
	if strings.ContainsAny(text, "\r\n") {
		return "", nil, 0, false
	}
	end = len(s) - len(rest) + e + 2
	if enc == 'b' {
		data = decodeBase64([]byte(text))
	} else {
		data = decodeQ(text)
	}
	return cs, data, end, true
}

// decodeQ decodes the RFC 2047 "Q" encoding.
func decodeQ(s string) []byte {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_':
			out = append(out, ' ')
		case c == '=' && i+2 < len(s):
			h, ok1 := unhex(s[i+1])
			l, ok2 := unhex(s[i+2])
			if ok1 && ok2 {
				out = append(out, h<<4|l)
				i += 2
			} else {
				out = append(out, c)
			}
		default:
			out = append(out, c)
		}
	}
	return out
}

// gbLabels are decoded as GB18030, the superset: mail labelled gb2312 very
// often holds GBK-only characters, and GBK is a subset of GB18030.
var gbLabels = map[string]bool{
	"gb2312": true, "gbk": true, "x-gbk": true, "cp936": true, "ms936": true,
	"windows-936": true, "euc-cn": true, "x-euc-cn": true, "csgb2312": true,
	"gb_2312-80": true, "gb_2312": true, "csgb231280": true, "chinese": true,
	"iso-ir-58": true, "cn-gb": true, "gb18030": true, "gb-18030": true,
}

var big5Labels = map[string]bool{
	"big5": true, "big-5": true, "big5-hkscs": true, "x-x-big5": true,
	"cn-big5": true, "csbig5": true, "x-big5": true,
}

var utf8Labels = map[string]bool{
	"utf-8": true, "utf8": true, "unicode-1-1-utf-8": true, "x-unicode20utf8": true,
}

var asciiLabels = map[string]bool{
	"": true, "us-ascii": true, "ascii": true, "us": true, "ansi_x3.4-1968": true,
	"iso-646-us": true, "csascii": true, "unknown-8bit": true, "x-unknown": true,
	"default": true,
}

func normalizeLabel(label string) string {
	label = strings.ToLower(strings.Trim(label, " \t\"'"))
	if k := strings.IndexByte(label, '*'); k >= 0 {
		label = label[:k]
	}
	return label
}

// go-message's charset package (which also sets message.CharsetReader)
// finds charsets in the IANA, then the WHATWG index of golang.org/x/text. Its
// table is extended here: the GB family is decoded as GB18030, the superset
// (the WHATWG index reads gb2312 as GBK, which lacks GB18030's four-byte
// characters), and every Big5 label as Big5.
func init() {
	for label := range gbLabels {
		charset.RegisterEncoding(label, simplifiedchinese.GB18030)
	}
	for label := range big5Labels {
		charset.RegisterEncoding(label, traditionalchinese.Big5)
	}
}

// knownCharset reports whether a (normalized) charset label can be decoded.
func knownCharset(label string) bool {
	_, err := charset.Reader(label, strings.NewReader(""))
	return err == nil
}

// decodeCharset turns bytes in the labelled charset into valid UTF-8. It
// reports false when the label is unknown; the bytes are then taken as
// UTF-8, invalid ones replaced. Unlabelled or "us-ascii" bytes that are not
// UTF-8 are read as GB18030, the most likely 8-bit charset here.
func decodeCharset(label string, b []byte) (string, bool) {
	label = normalizeLabel(label)
	switch {
	case utf8Labels[label]:
		return validUTF8(string(b)), true
	case asciiLabels[label]:
		if utf8.Valid(b) {
			return string(b), true
		}
		label = "gb18030"
	}
	r, err := charset.Reader(label, bytes.NewReader(b))
	if err != nil {
		return validUTF8(string(b)), false
	}
	out, err := io.ReadAll(r)
	if err != nil {
		return validUTF8(string(b)), false
	}
	return validUTF8(string(out)), true
}
