package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// load writes doc to a file and Loads it with no environment.
func load(t *testing.T, doc string) (*Config, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "switchboard.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return Load(path, func(string) string { return "" })
}

func TestLoadBlobs(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Blobs
	}{
		{
			name: "defaults when the section is absent",
			doc:  "listen: ':8080'\n",
			want: Blobs{Dir: "data/blobs", MaxBytes: 1 << 30, MaxBlobBytes: 20 << 20},
		},
		{
			name: "null section keeps the defaults",
			doc:  "blobs: ~\n",
			want: Blobs{Dir: "data/blobs", MaxBytes: 1 << 30, MaxBlobBytes: 20 << 20},
		},
		{
			name: "keys not given keep their defaults",
			doc:  "blobs:\n  dir: /var/lib/switchboard/blobs\n",
			want: Blobs{Dir: "/var/lib/switchboard/blobs", MaxBytes: 1 << 30, MaxBlobBytes: 20 << 20},
		},
		{
			name: "every key",
			doc:  "blobs: {dir: ./media, max_bytes: 10_000_000_000, max_blob_bytes: 0x1000000}\n",
			want: Blobs{Dir: "./media", MaxBytes: 10_000_000_000, MaxBlobBytes: 16 << 20},
		},
		{
			name: "one blob as large as the whole store",
			doc:  "blobs: {max_bytes: 4096, max_blob_bytes: 4096}\n",
			want: Blobs{Dir: "data/blobs", MaxBytes: 4096, MaxBlobBytes: 4096},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := load(t, tt.doc)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if c.Blobs != tt.want {
				t.Errorf("blobs = %+v, want %+v", c.Blobs, tt.want)
			}
		})
	}
}

func TestLoadBlobsErrors(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []string // lines of the error after the file name
	}{
		{
			name: "negative store bound",
			doc:  "blobs: {max_bytes: -1}\n",
			want: []string{"blobs.max_bytes: -1 is not a positive number of bytes"},
		},
		{
			name: "zero store bound",
			doc:  "blobs: {max_bytes: 0, max_blob_bytes: 1}\n",
			want: []string{"blobs.max_bytes: 0 is not a positive number of bytes"},
		},
		{
			name: "negative blob bound",
			doc:  "blobs: {max_blob_bytes: -5}\n",
			want: []string{"blobs.max_blob_bytes: -5 is not a positive number of bytes"},
		},
		{
			name: "both negative",
			doc:  "blobs: {max_bytes: -1, max_blob_bytes: -1}\n",
			want: []string{
				"blobs.max_bytes: -1 is not a positive number of bytes",
				"blobs.max_blob_bytes: -1 is not a positive number of bytes",
			},
		},
		{
			name: "blob bound over the store bound",
			doc:  "blobs:\n  max_bytes: 1000000\n  max_blob_bytes: 1000001\n",
			want: []string{"blobs.max_blob_bytes: 1000001 is more than blobs.max_bytes (1000000)"},
		},
		{
			name: "default blob bound over a small store bound",
			doc:  "blobs: {max_bytes: 1048576}\n",
			want: []string{"blobs.max_blob_bytes: 20971520 is more than blobs.max_bytes (1048576)"},
		},
		{
			name: "empty directory",
			doc:  "blobs: {dir: ''}\n",
			want: []string{`blobs.dir: must name a directory (e.g. "data/blobs")`},
		},
		{
			name: "blank directory",
			doc:  "blobs: {dir: '  '}\n",
			want: []string{`blobs.dir: must name a directory (e.g. "data/blobs")`},
		},
		{
			name: "unknown key",
			doc:  "blobs:\n  max_size: 10\n",
			want: []string{"blobs.max_size: unknown key (line 2)"},
		},
		{
			name: "not a number",
			doc:  "blobs:\n  max_bytes: 1GiB\n",
			want: []string{`blobs.max_bytes: must be a whole number, got "1GiB" (line 2)`},
		},
		{
			name: "a list for the section",
			doc:  "blobs: [data/blobs]\n",
			want: []string{"blobs: expected a mapping, found a list (line 1)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, tt.doc)
			if err == nil {
				t.Fatalf("Load succeeded, want error\n%s", strings.Join(tt.want, "\n"))
			}
			// The first line names the file.
			_, got, _ := strings.Cut(err.Error(), "\n")
			if want := strings.Join(tt.want, "\n"); got != want {
				t.Errorf("error\n%s\nwant\n%s", got, want)
			}
		})
	}
}

func TestLoadProxy(t *testing.T) {
	c, err := load(t, "proxy: {header: X-Real-IP, trusted: [10.0.0.0/8, '::1', 192.168.1.5]}\n")
	if err != nil {
		t.Fatal(err)
	}
	if c.Proxy.Header != "X-Real-IP" || len(c.Proxy.Trusted) != 3 {
		t.Errorf("proxy %+v", c.Proxy)
	}
	for _, tt := range []struct{ doc, want string }{
		{"proxy: {header: X-Real-IP}\n", `proxy.trusted: list the proxies' addresses: proxy.header "X-Real-IP" is believed only from them`},
		{"proxy: {trusted: [10.0.0.1]}\n", "proxy.header: name the header the proxies set to the client's address (e.g. X-Real-IP)"},
		{"proxy: {header: 'X Real', trusted: [10.0.0.1]}\n", `proxy.header: "X Real" is not a header name`},
		{"proxy: {header: X-Real-IP, trusted: [10.0.0.0/33, proxy.local]}\n",
			`proxy.trusted[0]: "10.0.0.0/33" is neither an IP address nor a CIDR range` + "\n" +
				`proxy.trusted[1]: "proxy.local" is neither an IP address nor a CIDR range`},
	} {
		_, err := load(t, tt.doc)
		if err == nil {
			t.Errorf("%q: loaded, want an error", tt.doc)
			continue
		}
		if _, got, _ := strings.Cut(err.Error(), "\n"); got != tt.want {
			t.Errorf("%q: error\n%s\nwant\n%s", tt.doc, got, tt.want)
		}
	}
}
