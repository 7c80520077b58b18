package blob

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

func open(t *testing.T, dir string, o Options) *Store {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	return s
}

func put(t *testing.T, s *Store, id, content, name, contentType string) Meta {
	t.Helper()
	m, err := s.Put(context.Background(), id, strings.NewReader(content), name, contentType)
	if err != nil {
		t.Fatalf("Put(%s): %v", id, err)
	}
	return m
}

// read returns a stored blob's content and metadata.
func read(t *testing.T, s *Store, id string) (string, Meta) {
	t.Helper()
	f, m, err := s.Open(id)
	if err != nil {
		t.Fatalf("Open(%s): %v", id, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %s: %v", id, err)
	}
	return string(b), m
}

// files lists the regular files under dir, relative to it.
func files(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(out)
	return out
}

// id returns a valid blob id that sorts and reads as n.
func id(n int) string { return fmt.Sprintf("%032x", n) }

func TestPutOpenRoundTrip(t *testing.T) {
	s := open(t, t.TempDir(), Options{})
	if s.MaxBlob() != 20<<20 {
		t.Errorf("default MaxBlob = %d, want 20 MiB", s.MaxBlob())
	}
	tests := []struct {
		name, content, fileName, contentType string
		wantName, wantType                   string
	}{
		{"image", "\x89PNG\r\n\x1a\n...", "photo.png", "image/png", "photo.png", "image/png"},
		{"no content type", "plain bytes", "notes", "", "notes", "application/octet-stream"},
		{"no name", "x", "", "text/plain; charset=utf-8", "", "text/plain; charset=utf-8"},
		{"name cleaned", "x", `C:\Users\li\"报价单".pdf`, "application/pdf", "报价单.pdf", "application/pdf"},
		{"empty blob", "", "empty.txt", "text/plain", "empty.txt", "text/plain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bid := NewID()
			before := time.Now().UTC().Add(-time.Second)
			m := put(t, s, bid, tt.content, tt.fileName, tt.contentType)
			want := Meta{ID: bid, Name: tt.wantName, ContentType: tt.wantType, Size: int64(len(tt.content))}
			if got := m; got.Created.Before(before) || got.Created.After(time.Now().UTC()) {
				t.Errorf("Created = %v, want about now", got.Created)
			}
			m.Created = time.Time{}
			if m != want {
				t.Errorf("Put returned %+v, want %+v", m, want)
			}
			if !s.Exists(bid) {
				t.Errorf("Exists(%s) = false after Put", bid)
			}
			content, got := read(t, s, bid)
			if content != tt.content {
				t.Errorf("content %q, want %q", content, tt.content)
			}
			got.Created = time.Time{}
			if got != want {
				t.Errorf("Open meta %+v, want %+v", got, want)
			}
			st, err := s.Stat(bid)
			st.Created = time.Time{}
			if err != nil || st != want {
				t.Errorf("Stat = %+v, %v; want %+v", st, err, want)
			}
		})
	}
	for _, id := range []string{NewID(), "nonsense"} {
		if _, err := s.Stat(id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Stat(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

func TestIDs(t *testing.T) {
	a, b := NewID(), NewID()
	if !ValidID(a) || !ValidID(b) || a == b {
		t.Errorf("NewID gave %q and %q, want two different valid ids", a, b)
	}
	x := IDFor("wechat", "wx123", "media-1")
	if !ValidID(x) || x != IDFor("wechat", "wx123", "media-1") {
		t.Errorf("IDFor is %q, not a stable valid id", x)
	}
	for _, other := range [][]string{{"wechat", "wx123", "media-2"}, {"wechat", "wx12", "3media-1"}, {"wechatwx123media-1"}} {
		if IDFor(other...) == x {
			t.Errorf("IDFor(%q) collides with IDFor(wechat, wx123, media-1)", other)
		}
	}
}

func TestBadIDs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "blobs")
	s := open(t, dir, Options{})
	put(t, s, id(1), "kept", "a.txt", "text/plain")

	bad := []string{
		"",
		"../x",
		"../../etc/passwd",
		"00/" + id(1)[3:],
		id(1)[:31],
		id(1) + "0",
		strings.ToUpper(NewID()),
		id(1)[:30] + "..",
		id(1)[:31] + "/",
		id(1)[:31] + "\x00",
		id(1) + ".json",
		".." + strings.Repeat("/0", 15),
	}
	for _, b := range bad {
		if ValidID(b) {
			t.Errorf("ValidID(%q) = true", b)
		}
		if _, err := s.Put(context.Background(), b, strings.NewReader("evil"), "x", ""); err == nil {
			t.Errorf("Put(%q) succeeded", b)
		}
		if f, _, err := s.Open(b); !errors.Is(err, ErrNotFound) {
			if f != nil {
				f.Close()
			}
			t.Errorf("Open(%q): error %v, want ErrNotFound", b, err)
		}
		if s.Exists(b) {
			t.Errorf("Exists(%q) = true", b)
		}
	}
	if _, _, err := s.Open(id(2)); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open of an absent blob: error %v, want ErrNotFound", err)
	}
	// Nothing was written next to the store's directory, and nothing in
	// it but the one good blob.
	if got := files(t, root); !slices.Equal(got, []string{"blobs/00/" + id(1), "blobs/00/" + id(1) + ".json"}) {
		t.Errorf("files after bad ids: %q", got)
	}
}

func TestTooLarge(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{MaxBlob: 10, MaxTotal: 1000})
	put(t, s, id(1), strings.Repeat("a", 10), "exactly.bin", "") // at the limit

	tests := []struct {
		name string
		r    io.Reader
	}{
		{"one byte over", strings.NewReader(strings.Repeat("b", 11))},
		{"far over", bytes.NewReader(make([]byte, 1<<20))},
		{"endless", endless{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Put(context.Background(), id(2), tt.r, "big.bin", "")
			if !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Put: error %v, want ErrTooLarge", err)
			}
			if s.Exists(id(2)) {
				t.Error("the refused blob exists")
			}
			if _, _, err := s.Open(id(2)); !errors.Is(err, ErrNotFound) {
				t.Errorf("Open of the refused blob: error %v, want ErrNotFound", err)
			}
			// No blob, no meta, no temporary file, and nothing counted.
			if got := files(t, dir); !slices.Equal(got, []string{"00/" + id(1), "00/" + id(1) + ".json"}) {
				t.Errorf("files after a refused Put: %q", got)
			}
			if s.total != 10 {
				t.Errorf("total = %d, want 10", s.total)
			}
		})
	}
}

type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }

func TestCancelledPut(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, id(1), endless{}, "x", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context: error %v, want context.Canceled", err)
	}
	if got := files(t, dir); len(got) != 0 {
		t.Errorf("files after a cancelled Put: %q", got)
	}
}

func TestReplace(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{MaxTotal: 1000})
	put(t, s, id(1), "first version, longer", "old.txt", "text/plain")
	put(t, s, id(2), "other", "other.txt", "")
	m := put(t, s, id(1), "second", "new.png", "image/png")
	if m.Name != "new.png" || m.ContentType != "image/png" || m.Size != 6 {
		t.Errorf("Put returned %+v", m)
	}
	content, got := read(t, s, id(1))
	if content != "second" || got.Name != "new.png" || got.ContentType != "image/png" || got.Size != 6 {
		t.Errorf("after replacing: content %q, meta %+v", content, got)
	}
	// The replaced version no longer counts.
	if want := int64(len("second") + len("other")); s.total != want {
		t.Errorf("total = %d, want %d", s.total, want)
	}
	if got := files(t, dir); len(got) != 4 {
		t.Errorf("files after replacing: %q, want two blobs and their metadata", got)
	}
}

// age sets a blob's modification time, which orders the trim.
func age(t *testing.T, s *Store, id string, mod time.Time) {
	t.Helper()
	if err := os.Chtimes(s.path(id), mod, mod); err != nil {
		t.Fatal(err)
	}
}

func TestTrim(t *testing.T) {
	old := time.Now().Add(-time.Hour)
	tests := []struct {
		name     string
		maxTotal int64
		sizes    []int // put in this order, oldest first
		kept     []int // indexes of the blobs left
	}{
		{"under the bound", 100, []int{30, 30, 30}, []int{0, 1, 2}},
		{"oldest goes", 100, []int{30, 30, 30, 30}, []int{1, 2, 3}},
		{"down to 90 percent", 100, []int{20, 20, 20, 20, 35}, []int{2, 3, 4}},
		{"stops at 90 percent", 100, []int{20, 20, 20, 20, 30}, []int{1, 2, 3, 4}},
		{"oldest two go", 100, []int{30, 30, 30, 30, 30}, []int{2, 3, 4}},
		{"newest kept alone over 90 percent", 50, []int{10, 10, 50}, []int{2}},
		{"exactly at the bound stays", 90, []int{30, 30, 30}, []int{0, 1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, t.TempDir(), Options{MaxTotal: tt.maxTotal, MaxBlob: 50})
			for i, n := range tt.sizes {
				put(t, s, id(i), strings.Repeat("x", n), fmt.Sprintf("%d.bin", i), "")
				age(t, s, id(i), old.Add(time.Duration(i)*time.Minute))
			}
			var kept []int
			var want int64
			for i := range tt.sizes {
				if s.Exists(id(i)) {
					kept = append(kept, i)
					want += int64(tt.sizes[i])
				} else if _, err := os.Stat(s.path(id(i)) + ".json"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("metadata of trimmed blob %d: %v, want it removed", i, err)
				}
			}
			if !slices.Equal(kept, tt.kept) {
				t.Errorf("kept blobs %v, want %v", kept, tt.kept)
			}
			measured, err := s.size()
			if err != nil {
				t.Fatal(err)
			}
			if s.total != want || measured != want {
				t.Errorf("total %d, measured %d, want %d", s.total, measured, want)
			}
			if last := len(tt.sizes) - 1; tt.sizes[last] <= int(tt.maxTotal)*9/10 && want > tt.maxTotal {
				t.Errorf("total %d is over the bound %d", want, tt.maxTotal)
			}
		})
	}
}

func TestReopen(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, Options{MaxTotal: 1000})
	for i := range 3 {
		put(t, s, id(i), strings.Repeat("y", 100), "", "")
		age(t, s, id(i), time.Now().Add(time.Duration(i-10)*time.Minute))
	}
	// A temporary file left by a crash is neither a blob nor counted.
	if err := os.WriteFile(filepath.Join(dir, ".put-123"), make([]byte, 500), 0o600); err != nil {
		t.Fatal(err)
	}

	again := open(t, dir, Options{MaxTotal: 350})
	if again.total != 300 {
		t.Errorf("reopened total = %d, want 300 (measured from the directory)", again.total)
	}
	if content, m := read(t, again, id(1)); content != strings.Repeat("y", 100) || m.Size != 100 {
		t.Errorf("blob after reopening: %d bytes, meta %+v", len(content), m)
	}
	// The next Put sees the bytes already there: 400 > 350, so the oldest
	// goes and 300 are left, under 90% of the bound. Without the measure
	// the store would count 100 and trim nothing.
	put(t, again, id(9), strings.Repeat("z", 100), "", "")
	for i, want := range []bool{false, true, true} {
		if got := again.Exists(id(i)); got != want {
			t.Errorf("blob %d exists = %v, want %v", i, got, want)
		}
	}
	if again.total != 300 {
		t.Errorf("total after the trim = %d, want 300", again.total)
	}
}

func TestConcurrentPuts(t *testing.T) {
	dir := t.TempDir()
	const maxTotal = 8 << 10
	s := open(t, dir, Options{MaxTotal: maxTotal, MaxBlob: 1 << 10})
	var wg sync.WaitGroup
	errs := make(chan error, 16*40)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				// Ids repeat across goroutines, so blobs are replaced
				// while others are written and trimmed.
				bid := id((g*40 + i) % 50)
				v := byte('a' + (g+i)%26)
				body := bytes.Repeat([]byte{v}, 100+(g*37+i*11)%900)
				if _, err := s.Put(context.Background(), bid, bytes.NewReader(body), string(v)+".bin", ""); err != nil {
					errs <- err
				}
				if f, m, err := s.Open(bid); err == nil {
					n, _ := io.Copy(io.Discard, f)
					f.Close()
					if n != m.Size {
						errs <- fmt.Errorf("open %s: read %d bytes, meta says %d", bid, n, m.Size)
					}
				} else if !errors.Is(err, ErrNotFound) {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	measured, err := s.size()
	if err != nil {
		t.Fatal(err)
	}
	if s.total != measured || measured > maxTotal {
		t.Errorf("total %d, measured %d, bound %d", s.total, measured, maxTotal)
	}
	// Every blob left has its metadata and agrees with it; nothing else
	// is left behind.
	for _, f := range files(t, dir) {
		base := filepath.Base(f)
		switch {
		case ValidID(base):
			content, m := read(t, s, base)
			if int64(len(content)) != m.Size || m.Name != content[:1]+".bin" {
				t.Errorf("blob %s: %d bytes of %q, meta %+v", base, len(content), content[:1], m)
			}
		case strings.HasSuffix(base, ".json") && ValidID(strings.TrimSuffix(base, ".json")):
			if !s.Exists(strings.TrimSuffix(base, ".json")) {
				t.Errorf("metadata %s without its blob", f)
			}
		default:
			t.Errorf("unexpected file %s", f)
		}
	}
}

func TestCleanName(t *testing.T) {
	long := strings.Repeat("报", 200)
	mixed := "ab" + strings.Repeat("价", 130)
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"报价单 2026.xlsx", "报价单 2026.xlsx"},
		{"", ""},
		{".", ""},
		{"..", ""},
		{"/", ""},
		{"///", ""},
		{`\`, ""},
		{"../../etc/passwd", "passwd"},
		{`..\..\windows\system.ini`, "system.ini"},
		{`C:\Users\li\Desktop\a.txt`, "a.txt"},
		{"dir/", "dir"},
		{"a/../b.txt", "b.txt"},
		{"a\x00b\r\nc\t.txt", "abc.txt"},
		{"bell\x07\x1b[31m.txt", "bell[31m.txt"},
		{"del\x7f.txt", "del.txt"},
		{"c1\u0085\u009b.txt", "c1.txt"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"zero\u200bwidth.txt", "zerowidth.txt"},
		{`say "hi".txt`, "say hi.txt"},
		{`"".txt`, ".txt"},
		{`"`, ""},
		{"  padded.txt  ", "padded.txt"},
		{"\xff\xfe.txt", "\ufffd\ufffd.txt"},
		{long, strings.Repeat("报", 120)},
		{mixed, "ab" + strings.Repeat("价", 118)},
		{strings.Repeat("a", 119) + " " + "b", strings.Repeat("a", 119)},
	}
	for _, tt := range tests {
		got := cleanName(tt.in)
		if got != tt.want {
			t.Errorf("cleanName(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > 120 {
			t.Errorf("cleanName(%q) = %q: not valid UTF-8 of at most 120 runes", tt.in, got)
		}
	}
}

// Temporary files a crashed Put left behind are removed when the store
// opens, once they are old; a young one (a write in progress on another
// replica) stays.
func TestOpenSweepsOldTempFiles(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, ".put-123")
	young := filepath.Join(dir, ".meta-456")
	for _, p := range []string{old, young} {
		if err := os.WriteFile(p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	past := time.Now().Add(-2 * time.Hour)
	if err := os.Chtimes(old, past, past); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(dir, Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Error("an old temporary file survived Open")
	}
	if _, err := os.Stat(young); err != nil {
		t.Error("a young temporary file was removed")
	}
}
