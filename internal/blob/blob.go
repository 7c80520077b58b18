// Package blob keeps files that came with messages (WeChat media, e-mail
// attachments) in a local directory of bounded size. Each blob is written
// to a temporary file and renamed into place, so a reader never sees half
// a file; when the directory grows past its bound the least recently
// written blobs are removed.
//
// With several replicas the directory must be shared storage (a volume
// mounted by all of them); see deploy/README.md.
package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Errors callers tell apart.
var (
	ErrNotFound = errors.New("blob: not found")
	ErrTooLarge = errors.New("blob: larger than the limit")
)

// Meta describes a stored blob.
type Meta struct {
	ID          string    `json:"id"`
	Name        string    `json:"name,omitempty"`
	ContentType string    `json:"content_type"`
	Size        int64     `json:"size"`
	Created     time.Time `json:"created"`
}

// Store is a directory of blobs.
type Store struct {
	dir      string
	maxTotal int64
	maxBlob  int64

	mu    sync.Mutex // serializes the trim
	total int64      // bytes, as of the last scan plus what was written since
}

// Options bound a Store.
type Options struct {
	// MaxTotal bounds the directory (default 1 GiB).
	MaxTotal int64
	// MaxBlob bounds one blob (default 20 MiB).
	MaxBlob int64
}

var idRe = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Open prepares dir (creating it) and measures what it holds.
func Open(dir string, o Options) (*Store, error) {
	if o.MaxTotal <= 0 {
		o.MaxTotal = 1 << 30
	}
	if o.MaxBlob <= 0 {
		o.MaxBlob = 20 << 20
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("blob: %w", err)
	}
	s := &Store{dir: dir, maxTotal: o.MaxTotal, maxBlob: o.MaxBlob}
	s.sweepTemp(time.Hour)
	total, err := s.size()
	if err != nil {
		return nil, err
	}
	s.total = total
	return s, nil
}

// sweepTemp removes temporary files older than age: what a Put that died
// midway left behind (writes in progress are younger; with replicas
// sharing the directory, one of theirs could be in progress, hence the
// age).
func (s *Store) sweepTemp(age time.Duration) {
	es, err := os.ReadDir(s.dir)
	if err != nil {
		return
	}
	for _, e := range es {
		n := e.Name()
		if e.IsDir() || !(strings.HasPrefix(n, ".put-") || strings.HasPrefix(n, ".meta-")) {
			continue
		}
		if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > age {
			os.Remove(filepath.Join(s.dir, n))
		}
	}
}

// MaxBlob is the largest blob Put accepts.
func (s *Store) MaxBlob() int64 { return s.maxBlob }

// ValidID reports whether id has the form of a blob id.
func ValidID(id string) bool { return idRe.MatchString(id) }

func (s *Store) path(id string) string { return filepath.Join(s.dir, id[:2], id) }

// NewID returns a fresh random blob id.
func NewID() string {
	var raw [16]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read does not fail on Linux
	return hex.EncodeToString(raw[:])
}

// IDFor derives a blob id from a stable name (a channel, an account and
// the channel's media id), so the id is known before the bytes are
// fetched and a second fetch lands on the same blob.
func IDFor(parts ...string) string {
	h := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return hex.EncodeToString(h[:16])
}

// Exists reports whether blob id is stored.
func (s *Store) Exists(id string) bool {
	if !ValidID(id) {
		return false
	}
	_, err := os.Stat(s.path(id))
	return err == nil
}

// Put stores what r yields under id (at most MaxBlob bytes, else
// ErrTooLarge and nothing stored) and returns its metadata. A blob already
// stored under id is replaced whole.
func (s *Store) Put(ctx context.Context, id string, r io.Reader, name, contentType string) (Meta, error) {
	if !ValidID(id) {
		return Meta{}, fmt.Errorf("blob: bad id %q", id)
	}
	tmp, err := os.CreateTemp(s.dir, ".put-*")
	if err != nil {
		return Meta{}, fmt.Errorf("blob: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	n, err := io.Copy(tmp, io.LimitReader(ctxReader{ctx, r}, s.maxBlob+1))
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Meta{}, fmt.Errorf("blob: write: %w", err)
	}
	if n > s.maxBlob {
		return Meta{}, fmt.Errorf("%w (%d bytes)", ErrTooLarge, s.maxBlob)
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	m := Meta{ID: id, Name: cleanName(name), ContentType: contentType, Size: n, Created: time.Now().UTC()}
	mj, err := json.Marshal(m)
	if err != nil {
		return Meta{}, fmt.Errorf("blob: meta: %w", err)
	}
	// The metadata goes through a temporary file too, so that Open never
	// reads half of it.
	mtmp, err := os.CreateTemp(s.dir, ".meta-*")
	if err != nil {
		return Meta{}, fmt.Errorf("blob: meta: %w", err)
	}
	defer os.Remove(mtmp.Name())
	_, err = mtmp.Write(mj)
	if cerr := mtmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return Meta{}, fmt.Errorf("blob: meta: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(s.path(id)), 0o750); err != nil {
		return Meta{}, fmt.Errorf("blob: %w", err)
	}

	over, err := s.commit(id, mtmp.Name(), tmp.Name(), n)
	if err != nil {
		return Meta{}, err
	}
	if over {
		s.trim(id)
	}
	return m, nil
}

// commit moves the metadata and the blob of id into place and counts the
// blob, replacing what was stored under id. It holds the lock, so a trim
// never runs in between and the count stays what the directory holds. It
// reports whether the directory is over its bound.
func (s *Store) commit(id, metaTmp, blobTmp string, size int64) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var replaced int64
	if info, err := os.Stat(s.path(id)); err == nil {
		replaced = info.Size()
	}
	if err := os.Rename(metaTmp, s.path(id)+".json"); err != nil {
		return false, fmt.Errorf("blob: meta: %w", err)
	}
	if err := os.Rename(blobTmp, s.path(id)); err != nil {
		os.Remove(s.path(id) + ".json")
		return false, fmt.Errorf("blob: %w", err)
	}
	s.total += size - replaced
	return s.total > s.maxTotal, nil
}

// Open returns the blob's content and metadata; the caller closes it.
func (s *Store) Open(id string) (io.ReadSeekCloser, Meta, error) {
	if !ValidID(id) {
		return nil, Meta{}, ErrNotFound
	}
	mj, err := os.ReadFile(s.path(id) + ".json")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Meta{}, ErrNotFound
	}
	if err != nil {
		return nil, Meta{}, fmt.Errorf("blob: %w", err)
	}
	var m Meta
	if err := json.Unmarshal(mj, &m); err != nil {
		return nil, Meta{}, fmt.Errorf("blob: meta of %s: %w", id, err)
	}
	f, err := os.Open(s.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Meta{}, ErrNotFound
	}
	if err != nil {
		return nil, Meta{}, fmt.Errorf("blob: %w", err)
	}
	// While a blob is being replaced, the metadata may already describe
	// the new version; the size is always that of the file opened.
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, Meta{}, fmt.Errorf("blob: %w", err)
	}
	m.Size = info.Size()
	return f, m, nil
}

// Stat returns the metadata of blob id, as Open does, without handing
// out its content; ErrNotFound when it is not stored.
func (s *Store) Stat(id string) (Meta, error) {
	f, m, err := s.Open(id)
	if err != nil {
		return Meta{}, err
	}
	f.Close()
	return m, nil
}

type entry struct {
	path string
	size int64
	mod  time.Time
}

func (s *Store) scan() ([]entry, error) {
	var out []entry
	err := filepath.WalkDir(s.dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !ValidID(d.Name()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil // removed meanwhile
		}
		out = append(out, entry{p, info.Size(), info.ModTime()})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("blob: scan: %w", err)
	}
	return out, nil
}

func (s *Store) size() (int64, error) {
	es, err := s.scan()
	var n int64
	for _, e := range es {
		n += e.size
	}
	return n, err
}

// trim removes the oldest blobs until the directory is back under 90% of
// its bound, never the one just written (keep).
func (s *Store) trim(keep string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es, err := s.scan()
	if err != nil {
		return
	}
	sort.Slice(es, func(i, j int) bool { return es[i].mod.Before(es[j].mod) })
	var total int64
	for _, e := range es {
		total += e.size
	}
	for _, e := range es {
		if total <= s.maxTotal*9/10 {
			break
		}
		if filepath.Base(e.path) == keep {
			continue
		}
		if os.Remove(e.path) == nil {
			os.Remove(e.path + ".json")
			total -= e.size
		}
	}
	s.total = total
}

// cleanName keeps a file name displayable and harmless in a header: the
// last path element only, without control, format (such as bidirectional
// overrides) or other invisible characters and without double quotes, at
// most 120 characters.
func cleanName(n string) string {
	n = filepath.Base(strings.ReplaceAll(n, "\\", "/"))
	n = strings.Map(func(r rune) rune {
		if !unicode.IsGraphic(r) || r == '"' {
			return -1
		}
		return r
	}, n)
	n = strings.TrimSpace(n)
	if n == "." || n == ".." || n == "/" {
		return ""
	}
	if r := []rune(n); len(r) > 120 {
		n = strings.TrimSpace(string(r[:120]))
	}
	return n
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
