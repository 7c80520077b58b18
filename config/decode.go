package config

import (
	"bytes"
	"cmp"
	"encoding"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Limits that keep a hostile or broken document from taking the process
// down. An alias bomb ("billion laughs") expands to far more than maxNodes.
const (
	maxNodes  = 1_000_000 // values visited by one Decode, aliases expanded
	maxDepth  = 1_000     // nesting of values, aliases expanded
	maxErrors = 100       // errors reported by one Decode
	maxQuoted = 40        // runes of an offending value quoted in a message
)

// PathError is one problem at one path of the document.
type PathError struct {
	// Path names the value, e.g. "channels.email[0].imap.addr" or
	// `teams["first.line"]`; "" is the document root.
	Path string
	// Line and Column locate the value in the document, counting from 1;
	// 0 means unknown.
	Line, Column int
	// Msg says what is wrong, e.g. "unknown key".
	Msg string
}

// Error returns "path: msg (line N)", leaving out the parts that are unknown.
func (e *PathError) Error() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// DecodeBytes parses a YAML document and Decode()s it at the root. An empty
// document (nothing, or only comments) leaves v untouched; more than one
// document is an error.
func DecodeBytes(data []byte, v any) error {
	if err := checkTarget(v); err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return err
	default:
		return errors.Join(&PathError{Line: next.Line, Column: next.Column,
			Msg: "more than one YAML document; the configuration must be a single document"})
	}
	return Decode(&doc, v, "")
}

// Decode fills v (a non-nil pointer) from node strictly: every mapping key
// must correspond to a field (by `yaml:"name"` tag), every scalar must
// convert to the field's type, and every error names the full path below
// path (path "" means the document root). It returns all errors found
// (joined with errors.Join), sorted by their position in the document.
//
// A nil or zero node, or an empty document node, leaves v untouched, so a
// yaml.Node field whose section was absent decodes to nothing. Decoding
// stops after 100 errors, and at a million values or a thousand levels of
// nesting (aliases expanded).
func Decode(node *yaml.Node, v any, path string) error {
	if err := checkTarget(v); err != nil {
		return err
	}
	if node != nil && node.Kind == yaml.DocumentNode {
		if len(node.Content) == 0 {
			return nil
		}
		node = node.Content[0]
	}
	if node == nil || node.Kind == 0 {
		return nil
	}
	d := &decoder{open: make(map[*yaml.Node]bool)}
	d.value(node, reflect.ValueOf(v).Elem(), path)
	return d.err()
}

func checkTarget(v any) error {
	if rv := reflect.ValueOf(v); rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("config: decode needs a non-nil pointer, got %T", v)
	}
	return nil
}

var (
	nodeType            = reflect.TypeFor[yaml.Node]()
	durationType        = reflect.TypeFor[time.Duration]()
	unmarshalerType     = reflect.TypeFor[yaml.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	validatorType       = reflect.TypeFor[interface{ Validate() error }]()
	anyType             = reflect.TypeFor[any]()
)

// decoder holds the state of one Decode call.
type decoder struct {
	errs   []*PathError
	visits int
	depth  int
	full   bool                // a limit was hit: stop decoding
	more   bool                // errors were left out after maxErrors
	open   map[*yaml.Node]bool // anchored nodes being decoded: an alias to one is a cycle
}

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	e := &PathError{Path: path, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line, e.Column = n.Line, n.Column
	}
	d.add(e)
}

// add records e, or stops decoding once maxErrors errors are recorded.
func (d *decoder) add(e *PathError) {
	if len(d.errs) == maxErrors {
		d.full, d.more = true, true
		return
	}
	d.errs = append(d.errs, e)
}

func (d *decoder) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b *PathError) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Column, b.Column))
	})
	errs := make([]error, len(d.errs), len(d.errs)+1)
	for i, e := range d.errs {
		errs[i] = e
	}
	if d.more {
		errs = append(errs, fmt.Errorf("too many errors: stopped after %d", maxErrors))
	}
	return errors.Join(errs...)
}

// visit counts n against the node budget and reports whether decoding may
// go on.
func (d *decoder) visit(n *yaml.Node, path string) bool {
	if d.full {
		return false
	}
	if d.visits++; d.visits > maxNodes {
		d.full = true
		d.fail(n, path, "document too large: more than %d values after expanding aliases", maxNodes)
		return false
	}
	return true
}

// resolve follows n if it is an alias and returns the node it stands for,
// or nil after reporting a broken or cyclic alias.
func (d *decoder) resolve(n *yaml.Node, path string) *yaml.Node {
	for n.Kind == yaml.AliasNode {
		if !d.visit(n, path) {
			return nil
		}
		switch {
		case n.Alias == nil:
			d.fail(n, path, "alias *%s refers to no anchor", n.Value)
			return nil
		case d.open[n.Alias]:
			d.fail(n, path, "alias *%s refers to a value that contains it", n.Value)
			return nil
		}
		n = n.Alias
	}
	return n
}

// enter resolves n, counts it against the limits and marks it open. It
// returns the node to decode and a function to call when done with it, or
// nil after reporting why n cannot be decoded.
func (d *decoder) enter(n *yaml.Node, path string) (*yaml.Node, func()) {
	if n = d.resolve(n, path); n == nil || !d.visit(n, path) {
		return nil, nil
	}
	if d.depth >= maxDepth {
		d.full = true
		d.fail(n, path, "nested more than %d levels deep", maxDepth)
		return nil, nil
	}
	d.depth++
	d.open[n] = n.Anchor != ""
	return n, func() {
		d.depth--
		delete(d.open, n)
	}
}

// value decodes n into rv, which is addressable, and then validates rv.
func (d *decoder) value(n *yaml.Node, rv reflect.Value, path string) {
	n, leave := d.enter(n, path)
	if n == nil {
		return
	}
	defer leave()

	null := isNull(n)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Interface:
		if null {
			rv.SetZero()
			return
		}
	}
	for rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		rv = rv.Elem()
	}
	before := len(d.errs)
	switch {
	case rv.Type() == nodeType:
		rv.Set(reflect.ValueOf(*n)) // kept raw, for its owner to decode
		return
	case !null: // null leaves other values as they are
		d.convert(n, rv, path)
	}
	if len(d.errs) == before && !d.full && reflect.PointerTo(rv.Type()).Implements(validatorType) {
		if err := rv.Addr().Interface().(interface{ Validate() error }).Validate(); err != nil {
			d.report(err, n, path)
		}
	}
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// convert decodes the non-null node n into rv, which is not a pointer.
func (d *decoder) convert(n *yaml.Node, rv reflect.Value, path string) {
	t := rv.Type()
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
		before := len(d.errs)
		d.charge(n, path)
		if len(d.errs) > before || d.full {
			return
		}
		if err := rv.Addr().Interface().(yaml.Unmarshaler).UnmarshalYAML(n); err != nil {
			d.report(err, n, path)
		}
		return
	case reflect.PointerTo(t).Implements(textUnmarshalerType):
		if s, ok := d.scalar(n, path, "a string"); ok {
			if err := rv.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
				d.report(err, n, path)
			}
		}
		return
	case t == durationType:
		d.duration(n, rv, path)
		return
	}

	switch t.Kind() {
	case reflect.Struct:
		if d.kind(n, path, yaml.MappingNode, "a mapping") {
			d.structure(n, rv, path)
		}
	case reflect.Map:
		if d.kind(n, path, yaml.MappingNode, "a mapping") {
			d.mapping(n, rv, path)
		}
	case reflect.Slice:
		if d.kind(n, path, yaml.SequenceNode, "a list") {
			d.sequence(n, rv, path)
		}
	case reflect.Interface:
		if t.NumMethod() > 0 {
			d.fail(n, path, "cannot decode into Go type %s", t)
			return
		}
		d.generic(n, rv, path)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			rv.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok {
			d.boolean(n, s, rv, path)
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if s, ok := d.scalar(n, path, "a whole number"); ok {
			d.integer(n, s, rv, path)
		}
	case reflect.Float32, reflect.Float64:
		if s, ok := d.scalar(n, path, "a number"); ok {
			d.float(n, s, rv, path)
		}
	default:
		d.fail(n, path, "cannot decode into Go type %s", t)
	}
}

// charge counts the values below n against the limits, aliases expanded,
// as if they were decoded: an UnmarshalYAML method that is handed n does
// not escape them.
func (d *decoder) charge(n *yaml.Node, path string) {
	for _, c := range n.Content {
		if c, leave := d.enter(c, path); c != nil {
			d.charge(c, path)
			leave()
		}
	}
}

// kind reports whether n is of kind k, and reports an error if not.
func (d *decoder) kind(n *yaml.Node, path string, k yaml.Kind, want string) bool {
	if n.Kind != k {
		d.fail(n, path, "expected %s, found %s", want, found(n))
		return false
	}
	return true
}

// scalar returns the text of n if n is a scalar, and reports an error if not.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	return n.Value, d.kind(n, path, yaml.ScalarNode, want)
}

// found describes n for an error message in plain words.
func found(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return quote(n.Value)
	}
	return "nothing"
}

// quote quotes s for an error message, cut to maxQuoted runes.
func quote(s string) string {
	if utf8.RuneCountInString(s) > maxQuoted {
		s = string([]rune(s)[:maxQuoted]) + "…"
	}
	return strconv.Quote(s)
}

// pair is one entry of a mapping, with the path of its value.
type pair struct {
	key, val *yaml.Node
	path     string
}

// pairs lists the entries of mapping n with "<<" merge keys expanded: the
// mapping's own keys first, then the merged keys it does not set itself,
// earlier merged mappings winning over later ones. Duplicate and non-scalar
// keys are reported and left out.
func (d *decoder) pairs(n *yaml.Node, path string) []pair {
	var out, merged []pair
	seen := make(map[string]*yaml.Node)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i], path), n.Content[i+1]
		if k == nil || !d.visit(k, path) {
			continue
		}
		if k.Kind != yaml.ScalarNode {
			d.fail(k, path, "expected a string key, found %s", found(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			merged = append(merged, d.merge(v, path)...)
			continue
		}
		p := pair{k, v, joinKey(path, k.Value)}
		if first, dup := seen[k.Value]; dup {
			d.fail(k, p.path, "duplicate key, first defined on line %d", first.Line)
			continue
		}
		seen[k.Value] = k
		out = append(out, p)
	}
	for _, p := range merged {
		if seen[p.key.Value] == nil {
			seen[p.key.Value] = p.key
			out = append(out, p)
		}
	}
	return out
}

// merge returns the entries that the value v of a "<<" key in the mapping
// at path merges into it: those of a mapping or of a list of mappings.
func (d *decoder) merge(v *yaml.Node, path string) []pair {
	mpath := joinKey(path, "<<")
	if v = d.resolve(v, mpath); v == nil {
		return nil
	}
	maps := []*yaml.Node{v}
	if v.Kind == yaml.SequenceNode {
		maps = v.Content
	}
	var out []pair
	for _, m := range maps {
		m, leave := d.enter(m, mpath)
		if m == nil {
			continue
		}
		if m.Kind == yaml.MappingNode {
			out = append(out, d.pairs(m, path)...)
		} else {
			d.fail(m, mpath, "expected a mapping or a list of mappings to merge, found %s", found(m))
		}
		leave()
	}
	return out
}

func (d *decoder) structure(n *yaml.Node, rv reflect.Value, path string) {
	info := fieldsOf(rv.Type())
	if info.err != nil {
		d.fail(n, path, "cannot decode into Go type %s: %v", rv.Type(), info.err)
		return
	}
	for _, p := range d.pairs(n, path) {
		index, ok := info.fields[p.key.Value]
		if !ok {
			d.fail(p.key, p.path, "unknown key")
			continue
		}
		d.value(p.val, rv.FieldByIndex(index), p.path)
	}
}

func (d *decoder) mapping(n *yaml.Node, rv reflect.Value, path string) {
	t := rv.Type()
	if t.Key().Kind() != reflect.String {
		d.fail(n, path, "cannot decode into Go type %s: map keys must be strings", t)
		return
	}
	if rv.IsNil() {
		rv.Set(reflect.MakeMap(t))
	}
	for _, p := range d.pairs(n, path) {
		elem := reflect.New(t.Elem()).Elem()
		d.value(p.val, elem, p.path)
		rv.SetMapIndex(reflect.ValueOf(p.key.Value).Convert(t.Key()), elem)
	}
}

func (d *decoder) sequence(n *yaml.Node, rv reflect.Value, path string) {
	s := reflect.MakeSlice(rv.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		d.value(item, s.Index(i), path+"["+strconv.Itoa(i)+"]")
	}
	rv.Set(s)
}

// generic decodes n into an empty interface: mappings become map[string]any
// and lists []any, decoded as strictly as typed ones; scalars are resolved
// by their YAML tag as yaml.v3 does.
func (d *decoder) generic(n *yaml.Node, rv reflect.Value, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		m := reflect.ValueOf(map[string]any{})
		d.mapping(n, m, path)
		rv.Set(m)
	case yaml.SequenceNode:
		s := reflect.New(reflect.SliceOf(anyType)).Elem()
		d.sequence(n, s, path)
		rv.Set(s)
	default:
		if n.ShortTag() == "!!str" { // the common case, without a yaml.v3 decoder
			rv.Set(reflect.ValueOf(n.Value))
			return
		}
		var x any
		if err := n.Decode(&x); err != nil {
			d.report(err, n, path)
			return
		}
		rv.Set(reflect.ValueOf(&x).Elem())
	}
}

func (d *decoder) boolean(n *yaml.Node, s string, rv reflect.Value, path string) {
	switch s {
	case "true", "True", "TRUE":
		rv.SetBool(true)
	case "false", "False", "FALSE":
		rv.SetBool(false)
	default:
		d.fail(n, path, "must be true or false, got %s", quote(s))
	}
}

// integer accepts Go's integer syntax: 0x, 0o and 0b prefixes, a leading 0
// for octal, and _ between digits.
func (d *decoder) integer(n *yaml.Node, s string, rv reflect.Value, path string) {
	bits := rv.Type().Bits()
	if rv.CanInt() {
		i, err := strconv.ParseInt(s, 0, bits)
		switch {
		case err == nil:
			rv.SetInt(i)
		case errors.Is(err, strconv.ErrRange):
			d.fail(n, path, "must be a whole number from %d to %d, got %s",
				int64(-1)<<(bits-1), int64(1)<<(bits-1)-1, quote(s))
		default:
			d.fail(n, path, "must be a whole number, got %s", quote(s))
		}
		return
	}
	u, err := strconv.ParseUint(s, 0, bits)
	if err == nil {
		rv.SetUint(u)
		return
	}
	if _, ierr := strconv.ParseInt(s, 0, 64); errors.Is(err, strconv.ErrRange) || ierr == nil || errors.Is(ierr, strconv.ErrRange) {
		d.fail(n, path, "must be a whole number from 0 to %d, got %s", uint64(1)<<bits-1, quote(s))
		return
	}
	d.fail(n, path, "must be a whole number, got %s", quote(s))
}

// float accepts Go's number syntax and YAML's .inf and -.inf; it refuses
// NaN, which no setting means.
func (d *decoder) float(n *yaml.Node, s string, rv reflect.Value, path string) {
	var f float64
	var err error
	switch strings.ToLower(s) {
	case ".inf", "+.inf":
		f = math.Inf(1)
	case "-.inf":
		f = math.Inf(-1)
	default:
		f, err = strconv.ParseFloat(s, rv.Type().Bits())
	}
	switch {
	case errors.Is(err, strconv.ErrRange):
		d.fail(n, path, "number too large, got %s", quote(s))
	case err != nil || math.IsNaN(f):
		d.fail(n, path, "must be a number, got %s", quote(s))
	default:
		rv.SetFloat(f)
	}
}

// duration accepts Go durations ("30s", "5m", "1h30m") and a bare 0.
func (d *decoder) duration(n *yaml.Node, rv reflect.Value, path string) {
	s, ok := d.scalar(n, path, "a duration")
	if !ok {
		return
	}
	if dur, err := time.ParseDuration(s); err == nil {
		rv.SetInt(int64(dur))
		return
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f == 0 {
			rv.SetInt(0)
			return
		}
		d.fail(n, path, `must be a duration with a unit, like "30s" or "5m", got %s`, quote(s))
		return
	}
	d.fail(n, path, `must be a duration like "30s", "5m" or "1h30m", got %s`, quote(s))
}

// report records err, returned by a Validate or UnmarshalYAML method for the
// value at path that was decoded from n. The Path of a *PathError is taken
// as relative to path; errors joined with errors.Join are reported one by one.
func (d *decoder) report(err error, n *yaml.Node, path string) {
	if multi, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range multi.Unwrap() {
			if e != nil {
				d.report(e, n, path)
			}
		}
		return
	}
	if pe, ok := err.(*PathError); ok {
		e := *pe
		e.Path = joinPath(path, pe.Path)
		if e.Line == 0 {
			at := locate(n, pe.Path)
			e.Line, e.Column = at.Line, at.Column
		}
		d.add(&e)
		return
	}
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
		msg = strings.Join(te.Errors, "; ")
	}
	d.fail(n, path, "%s", msg)
}

// joinKey returns the path of key in the mapping at path. A key that would
// be ambiguous after a dot is quoted: teams["first.line"].
func joinKey(path, key string) string {
	if key == "" || strings.ContainsFunc(key, func(r rune) bool {
		return strings.ContainsRune(`.[]"`, r) || unicode.IsSpace(r) || !unicode.IsPrint(r)
	}) {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

// joinPath appends rel, a path relative to the value at path, to path.
func joinPath(path, rel string) string {
	switch {
	case rel == "":
		return path
	case path == "" || rel[0] == '[':
		return path + strings.TrimPrefix(rel, ".")
	default:
		return path + "." + strings.TrimPrefix(rel, ".")
	}
}

// locate follows rel, a path relative to n, as far as the tree below n goes
// and returns the node it reaches, so that an error a Validate method
// reports about a field points at that field's line.
func locate(n *yaml.Node, rel string) *yaml.Node {
	for {
		if rel = strings.TrimPrefix(rel, "."); rel == "" {
			return n
		}
		var next *yaml.Node
		switch {
		case strings.HasPrefix(rel, `["`):
			q, err := strconv.QuotedPrefix(rel[1:])
			if err != nil || !strings.HasPrefix(rel[1+len(q):], "]") {
				return n
			}
			key, _ := strconv.Unquote(q)
			next, rel = child(n, key), rel[len(q)+2:]
		case rel[0] == '[':
			end := strings.IndexByte(rel, ']')
			if end < 0 {
				return n
			}
			i, err := strconv.Atoi(rel[1:end])
			if err == nil && n.Kind == yaml.SequenceNode && i >= 0 && i < len(n.Content) {
				next = n.Content[i]
			}
			rel = rel[end+1:]
		default:
			end := strings.IndexAny(rel, ".[")
			if end < 0 {
				end = len(rel)
			}
			next, rel = child(n, rel[:end]), rel[end:]
		}
		if next == nil {
			return n
		}
		if next.Kind == yaml.AliasNode && next.Alias != nil {
			next = next.Alias
		}
		n = next
	}
}

// child returns the value of key in mapping n, or nil.
func child(n *yaml.Node, key string) *yaml.Node {
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// structInfo maps the YAML names of a struct type's fields to their indexes.
type structInfo struct {
	fields map[string][]int
	err    error
}

var structCache sync.Map // reflect.Type → *structInfo

func fieldsOf(t reflect.Type) *structInfo {
	if info, ok := structCache.Load(t); ok {
		return info.(*structInfo)
	}
	info := &structInfo{fields: make(map[string][]int)}
	info.err = collectFields(t, nil, info.fields)
	stored, _ := structCache.LoadOrStore(t, info)
	return stored.(*structInfo)
}

// collectFields adds the fields of struct type t, found at index prefix,
// to fields: by `yaml:"name"` tag, else by lower-cased Go name; `yaml:"-"`
// and unexported fields are skipped, and `,inline` structs contribute their
// own fields.
func collectFields(t reflect.Type, prefix []int, fields map[string][]int) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		index := append(slices.Clone(prefix), i)
		if slices.Contains(strings.Split(opts, ","), "inline") {
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			if f.Type.Kind() != reflect.Struct {
				return fmt.Errorf("field %s: only structs can be inline", f.Name)
			}
			if err := collectFields(f.Type, index, fields); err != nil {
				return err
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		if _, dup := fields[name]; dup {
			return fmt.Errorf("two fields are named %q", name)
		}
		fields[name] = index
	}
	return nil
}
