package publish

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzParseMirrorsFile: any input either fails with a line number or yields
// mirrors that are valid http(s) bases with priorities and locations in range.
func FuzzParseMirrorsFile(f *testing.F) {
	f.Add("https://a.example/pub/ priority=1 location=de\n# c\nhttp://b.example/x,priority=2\n")
	f.Add("ftp://x/\n")
	f.Add("https://a.example/ priority=99999999999999999999\n")
	f.Add("http://[::1]:80/ location=zz # c\n\n")
	f.Fuzz(func(t *testing.T, text string) {
		ms, err := ParseMirrorsFile(strings.NewReader(text))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "line ") {
				t.Fatalf("error without a line number: %v", err)
			}
			return
		}
		for _, m := range ms {
			u, err := url.Parse(m.URL)
			if err != nil || (strings.ToLower(u.Scheme) != "http" && strings.ToLower(u.Scheme) != "https") || u.Host == "" || u.User != nil {
				t.Fatalf("accepted mirror %q", m.URL)
			}
			if m.Priority < 0 || m.Priority > 999999 || (m.Location != "" && len(m.Location) != 2) {
				t.Fatalf("accepted mirror %+v", m)
			}
		}
	})
}

// FuzzMirrorURL: a joined URL parses back to exactly the name under the base path.
func FuzzMirrorURL(f *testing.F) {
	for _, s := range []string{"a.iso", "my file.iso", "d/ü#1%?.bin", "a;b,c/=@:+$&", "x/y/z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := MirrorURL("https://m.example/base%20dir/", name)
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("MirrorURL(%q) = %q does not parse: %v", name, got, err)
		}
		if u.RawQuery != "" || u.Fragment != "" || u.Host != "m.example" || u.Path != "/base dir/"+name {
			t.Fatalf("MirrorURL(%q) = %q parses to path %q query %q fragment %q", name, got, u.Path, u.RawQuery, u.Fragment)
		}
	})
}
