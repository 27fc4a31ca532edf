package publish

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

func TestParseMirrorFlag(t *testing.T) {
	good := []struct {
		in   string
		want Mirror
	}{
		{"https://a.example/pub/", Mirror{URL: "https://a.example/pub/"}},
		{"http://b.example:8080/x,priority=3", Mirror{URL: "http://b.example:8080/x", Priority: 3}},
		{"https://c.example/,location=DE,priority=999999", Mirror{URL: "https://c.example/", Priority: 999999, Location: "de"}},
		{"HTTPS://d.example/", Mirror{URL: "HTTPS://d.example/"}},
	}
	for _, c := range good {
		got, err := ParseMirrorFlag(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseMirrorFlag(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	bad := map[string]string{
		"":                                        "empty",
		"ftp://a.example/":                        "scheme",
		"file:///srv/pub":                         "scheme",
		"a.example/pub":                           "absolute",
		"http:///pub":                             "no host",
		"http://user:pw@a.example/":               "credentials",
		"http://a.example/?x=1":                   "query",
		"http://a.example/#frag":                  "fragment",
		"http://a.example/ x":                     "space",
		"http://a.example/,priority=0":            "priority",
		"http://a.example/,priority=1000000":      "priority",
		"http://a.example/,priority=high":         "priority",
		"http://a.example/,priority=1,priority=2": "twice",
		"http://a.example/,location=deu":          "location",
		"http://a.example/,location=d1":           "location",
		"http://a.example/,weight=2":              "unknown attribute",
		"http://a.example/,priority":              "priority=N",
		"http://[::1/":                            "missing",
	}
	for in, want := range bad {
		_, err := ParseMirrorFlag(in)
		if err == nil || !errors.Is(err, ErrBadMirror) || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseMirrorFlag(%q) error = %v, want ErrBadMirror mentioning %q", in, err, want)
		}
	}
}

func TestParseMirrorsFile(t *testing.T) {
	text := `# our mirrors
https://eu.example/pub/ priority=1 location=de
http://us.example/pub, priority=2,location=US   # trailing comment

	https://asia.example/mirror/pub/
`
	got, err := ParseMirrorsFile(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	want := []Mirror{
		{URL: "https://eu.example/pub/", Priority: 1, Location: "de"},
		{URL: "http://us.example/pub", Priority: 2, Location: "us"},
		{URL: "https://asia.example/mirror/pub/"},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("mirror %d = %+v, want %+v", i, got[i], want[i])
		}
	}

	for _, c := range []struct {
		text string
		line int
		msg  string
	}{
		{"https://a.example/\nnot a url\n", 2, "absolute"},
		{"# c\n\nftp://a.example/pub\n", 3, "scheme"},
		{"https://a.example/ priority=-1\n", 1, "priority"},
		{"https://a.example/\nhttps://b.example/ location=europe\n", 2, "location"},
		{"https://a.example/\nhttps://a.example/\n", 2, "already listed on line 1"},
		{"https://a.example/ priority=1 x=2", 1, "unknown attribute"},
	} {
		_, err := ParseMirrorsFile(strings.NewReader(c.text))
		var fe *MirrorsFileError
		if !errors.As(err, &fe) || fe.Line != c.line || !errors.Is(err, ErrBadMirror) ||
			!strings.Contains(err.Error(), c.msg) || !strings.HasPrefix(err.Error(), "line ") {
			t.Errorf("ParseMirrorsFile(%q) error = %v, want line %d mentioning %q", c.text, err, c.line, c.msg)
		}
	}
}

func TestMirrorURL(t *testing.T) {
	cases := []struct{ base, rel, want string }{
		{"https://m.example/pub/", "a.iso", "https://m.example/pub/a.iso"},
		{"https://m.example/pub", "a.iso", "https://m.example/pub/a.iso"},
		{"https://m.example", "dir/a.iso", "https://m.example/dir/a.iso"},
		{"https://m.example/pub/", "my file.iso", "https://m.example/pub/my%20file.iso"},
		{"https://m.example/pub/", "c#d", "https://m.example/pub/c%23d"},
		{"https://m.example/pub/", "100%.txt", "https://m.example/pub/100%25.txt"},
		{"https://m.example/pub/", "q?x=1", "https://m.example/pub/q%3Fx=1"},
		{"https://m.example/pub/", "déjà vu/ünï.tar", "https://m.example/pub/d%C3%A9j%C3%A0%20vu/%C3%BCn%C3%AF.tar"},
		{"https://m.example/pub/", "a;b", "https://m.example/pub/a%3Bb"},
		{"https://m.example/a%20b/", "x", "https://m.example/a%20b/x"},
	}
	for _, c := range cases {
		got, err := MirrorURL(c.base, c.rel)
		if err != nil || got != c.want {
			t.Errorf("MirrorURL(%q, %q) = %q, %v; want %q", c.base, c.rel, got, err, c.want)
			continue
		}
		// The URL must decode back to the name: parse it and compare the path tail.
		u, err := url.Parse(got)
		if err != nil || !strings.HasSuffix(u.Path, "/"+c.rel) || u.RawQuery != "" || u.Fragment != "" {
			t.Errorf("MirrorURL(%q, %q) = %q does not parse back to the name (path %q, query %q, fragment %q, err %v)",
				c.base, c.rel, got, u.Path, u.RawQuery, u.Fragment, err)
		}
	}
	for _, rel := range []string{"", "/abs", "a//b", "a/../b", "./a"} {
		if _, err := MirrorURL("https://m.example/", rel); err == nil {
			t.Errorf("MirrorURL with name %q accepted", rel)
		}
	}
	if _, err := MirrorURL("ftp://m.example/", "a"); !errors.Is(err, ErrBadMirror) {
		t.Errorf("MirrorURL with an ftp base: error = %v, want ErrBadMirror", err)
	}
}

func TestCheckOrigin(t *testing.T) {
	for _, c := range []struct {
		url  string
		each bool
		ok   bool
	}{
		{"https://www.example/release.meta4", false, true},
		{"https://www.example/get?file=release.meta4", false, true},
		{"https://www.example/get?file=", true, false},
		{"https://www.example/pub/", true, true},
		{"ftp://www.example/r.meta4", false, false},
		{"/r.meta4", false, false},
		{"https://u:p@www.example/r.meta4", false, false},
		{"https://www.example/r.meta4#x", false, false},
	} {
		if err := CheckOrigin(c.url, c.each); (err == nil) != c.ok {
			t.Errorf("CheckOrigin(%q, each=%v) = %v, want ok=%v", c.url, c.each, err, c.ok)
		}
	}
}
