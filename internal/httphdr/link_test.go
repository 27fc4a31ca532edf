package httphdr

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseLink(t *testing.T) {
	got, err := ParseLink(
		`<http://ftp.de.example/f.iso>; rel=duplicate; pri=1; geo=DE; pref, <https://b.example/f.iso>;rel="duplicate";pri=2`,
		` <f.iso.meta4> ; rel=describedby ; type="application/metalink4+xml" `,
		`<http://c.example/x>; rel="duplicate describedby"; title="a \"q\" b"; rel=ignored; pri=3; pri=9`,
		``,
	)
	if err != nil {
		t.Fatal(err)
	}
	want := []Link{
		{URL: "http://ftp.de.example/f.iso", Rel: "duplicate", Params: map[string]string{"pri": "1", "geo": "DE", "pref": ""}},
		{URL: "https://b.example/f.iso", Rel: "duplicate", Params: map[string]string{"pri": "2"}},
		{URL: "f.iso.meta4", Rel: "describedby", Params: map[string]string{"type": "application/metalink4+xml"}},
		{URL: "http://c.example/x", Rel: "duplicate describedby", Params: map[string]string{"title": `a "q" b`, "pri": "3"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ParseLink =\n%#v\nwant\n%#v", got, want)
	}
	if p, ok := got[0].Pri(); !ok || p != 1 || !got[0].Pref() || got[0].Geo() != "de" {
		t.Errorf("link 0 accessors: pri %d %v pref %v geo %q", p, ok, got[0].Pref(), got[0].Geo())
	}
	if got[1].Pref() || got[1].Geo() != "" {
		t.Errorf("link 1 has pref or geo")
	}
	if got[2].Type() != "application/metalink4+xml" || !got[2].HasRel("DescribedBy") || got[2].HasRel("duplicate") {
		t.Errorf("link 2 accessors wrong: %+v", got[2])
	}
	if !got[3].HasRel("duplicate") || !got[3].HasRel("describedby") {
		t.Errorf("link 3 rels: %q", got[3].Rel)
	}
}

func TestLinkPri(t *testing.T) {
	for v, want := range map[string]int{"1": 1, "999999": 999999, "0": 0, "1000000": 0, "-1": 0, "x": 0, "99999999999999999999999": 0} {
		l := Link{Params: map[string]string{"pri": v}}
		if p, ok := l.Pri(); p != want || ok != (want != 0) {
			t.Errorf("Pri(%q) = %d, %v; want %d", v, p, ok, want)
		}
	}
	if _, ok := (Link{}).Pri(); ok {
		t.Error("Pri of a link without pri is ok")
	}
}

func TestParseLinkMalformed(t *testing.T) {
	for _, in := range []string{
		`http://a/`,
		`<http://a/`,
		`<http://a/>; rel=duplicate <http://b/>`,
		`<http://a/>; =x`,
		`<http://a/>; rel=`,
		`<http://a/>; rel="dup`,
		`<http://a/>; rel="a\`,
		"<http://a/>; rel=\"a\x01\"",
		"<http://a/\x00>; rel=duplicate",
		`<http://a b/>; rel=duplicate`,
		`<http://a/>; rel=dup licate`,
		`<http://a/>;;`,
	} {
		if _, err := ParseLink(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseLink(%q) error = %v, want ErrMalformed", in, err)
		}
	}
	many := strings.Repeat("<a>, ", MaxLinks+1)
	if _, err := ParseLink(many); !errors.Is(err, ErrMalformed) {
		t.Errorf("%d links accepted", MaxLinks+1)
	}
}

func TestFormatLink(t *testing.T) {
	got := FormatLink(
		Link{URL: "http://a.example/f", Rel: "duplicate", Params: map[string]string{"geo": "de", "pri": "1", "pref": "", "zz": "x y"}},
		Link{URL: "f.meta4", Rel: "describedby", Params: map[string]string{"type": "application/metalink4+xml"}},
	)
	want := `<http://a.example/f>; rel=duplicate; pri=1; pref; geo=de; zz="x y", <f.meta4>; rel=describedby; type="application/metalink4+xml"`
	if got != want {
		t.Fatalf("FormatLink =\n%s\nwant\n%s", got, want)
	}
	// Hostile values cannot break out of the header.
	evil := FormatLink(Link{URL: "http://a/>\r\nSet-Cookie: x", Rel: "dup\r\nlicate", Params: map[string]string{"bad name": "v", "t": "a\"b\\\n"}})
	if strings.ContainsAny(evil, "\r\n") {
		t.Fatalf("FormatLink emitted a line break: %q", evil)
	}
	back, err := ParseLink(evil)
	if err != nil || len(back) != 1 || back[0].Params["t"] != `a"b\` || back[0].Params["bad name"] != "" {
		t.Fatalf("hostile link did not round trip: %q -> %#v, %v", evil, back, err)
	}
}

func FuzzLink(f *testing.F) {
	for _, s := range []string{
		`<http://a/f>; rel=duplicate; pri=1; geo=de; pref`,
		`<f.meta4>; rel=describedby; type="application/metalink4+xml", <http://b/>; rel="duplicate"`,
		`<x>; title="a\"b"`, `<>`, `,,<a>,`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		links, err := ParseLink(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error %v is not ErrMalformed", err)
			}
			return
		}
		out := FormatLink(links...)
		if strings.ContainsAny(out, "\r\n\x00") {
			t.Fatalf("FormatLink emitted a control character: %q", out)
		}
		back, err := ParseLink(out)
		if err != nil {
			t.Fatalf("own output %q does not parse: %v", out, err)
		}
		if len(back) != len(links) {
			t.Fatalf("round trip changed the link count: %d -> %d (%q)", len(links), len(back), out)
		}
		for i := range back {
			if back[i].Rel != links[i].Rel {
				t.Fatalf("round trip changed rel %q -> %q", links[i].Rel, back[i].Rel)
			}
		}
	})
}
