package fetch

import (
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/internal/httphdr"
	"github.com/mlinkdev/mlink/metalink"
)

// DiscoveryKind says how Discover found what to download from a URL.
type DiscoveryKind string

// The four outcomes of Discover, strongest first.
const (
	// DiscoveryMetalink: the URL is a metalink document itself (its Content-Type is
	// application/metalink4+xml or application/metalink+xml, or its path ends in .meta4
	// or .metalink).
	DiscoveryMetalink DiscoveryKind = "metalink"
	// DiscoveryDescribedBy: the server answered with a Link rel=describedby to a
	// metalink (RFC 6249 §4.1), which was fetched and decoded.
	DiscoveryDescribedBy DiscoveryKind = "describedby"
	// DiscoveryDuplicates: the server sent an instance digest (Digest or Repr-Digest)
	// and, usually, Link rel=duplicate mirrors (RFC 6249 §3, §6): one file built from
	// those headers, verified against the digest.
	DiscoveryDuplicates DiscoveryKind = "duplicates"
	// DiscoveryPlain: no Metalink/HTTP at all: one file, one source (the URL), no hash.
	// Downloading it needs Options.InsecureNoHash.
	DiscoveryPlain DiscoveryKind = "plain"
)

// Media types of metalink documents.
const (
	mediaMetalink4 = "application/metalink4+xml"
	mediaMetalink3 = "application/metalink+xml"
)

// Defaults of DiscoverOptions.
const (
	DefaultMaxMetalinkBytes = 8 << 20
	DefaultMaxDuplicates    = maxMirrors - 1
)

// DiscoverOptions configures Discover. The zero value is useful.
type DiscoverOptions struct {
	// Client sends the requests. Nil means NewClient(10s, 4) with a 2-minute overall
	// timeout. RedirectPolicy applies to every redirect before the client's own
	// CheckRedirect (no https to http, http and https only, at most 10), and the
	// credentials of the URL's userinfo are added per request for the URL's origin
	// only, whatever CheckRedirect does.
	Client *http.Client
	// UserAgent is sent with every request (default "mlink").
	UserAgent string
	// MaxMetalinkBytes caps a metalink document read over HTTP (default 8 MiB).
	MaxMetalinkBytes int64
	// MaxDuplicates caps the Link rel=duplicate mirrors taken from one response
	// (default 63: with the URL itself, the 64 mirrors Get uses at most).
	MaxDuplicates int
	// Name, when set, is the file name of a file built from headers
	// (DiscoveryDuplicates, DiscoveryPlain) instead of the last segment of the URL's
	// path; it is checked with metalink.CheckName all the same.
	Name string
}

// Discovery is what Discover found.
type Discovery struct {
	// Kind is the path that was taken.
	Kind DiscoveryKind
	// Metalink is what to download: the decoded document (DiscoveryMetalink,
	// DiscoveryDescribedBy; for a describedby metalink of several files, only the file
	// named like the URL's last path segment when there is one), or one file built
	// from the response headers (DiscoveryDuplicates, DiscoveryPlain).
	Metalink *metalink.Metalink
	// URL is the redacted final URL of the first response (after redirects).
	URL string
	// MetalinkURL is the redacted URL the metalink document was read from
	// (DiscoveryMetalink, DiscoveryDescribedBy).
	MetalinkURL string
	// Mirrors is the number of Link rel=duplicate mirrors used (DiscoveryDuplicates).
	Mirrors int
	// Warnings are findings worth telling the user: ignored Link fields, a malformed
	// Link header, a size that could not be known.
	Warnings []string
}

// errNotHTTP is the wording shared with the CLI for a URL of another scheme.
func errNotHTTP(scheme string) error {
	return fmt.Errorf("unsupported scheme %q: mlink fetches http:// and https:// URLs only", scheme)
}

// Discover finds out what to download from rawURL, an http or https URL, following
// RFC 6249 (Metalink/HTTP):
//
//  1. A URL whose path ends in .meta4 or .metalink is fetched with GET and decoded as
//     a metalink (DiscoveryMetalink). Any other URL gets a HEAD request (a GET when the
//     server answers HEAD with 405, 501 or 403, whose body is then read only if it is a
//     metalink) with Accept preferring metalinks, Accept-Encoding: identity (the
//     coding Get downloads, which digests and sizes must describe), Want-Digest:
//     sha-256 and Want-Repr-Digest: sha-256=10. A response that is a metalink (by Content-Type) is
//     fetched and decoded (DiscoveryMetalink).
//  2. Otherwise a Link rel=describedby with type application/metalink4+xml (or
//     application/metalink+xml), resolved against the final response URL, is fetched
//     and decoded (DiscoveryDescribedBy). Its response's own Link fields are never
//     read, so a describedby loop cannot be followed twice. If it describes several
//     files, those named like the Link's name parameter, else like the URL's last path
//     segment, are kept; when none matches, all are. A describedby URL that does not
//     give a metalink is an error, not a fallback, and so is a plain http describedby
//     URL for an https URL (the metalink is the trust root). When the origin also sent a sha-256
//     digest and the metalink has a single file with another sha-256, that is an error.
//  3. Otherwise a Digest (RFC 3230) or Repr-Digest (RFC 9530) field makes one file
//     (DiscoveryDuplicates): its name is the last segment of rawURL's path (never
//     of a redirect target: SECURITY.md rule 4), percent-decoded, or
//     DiscoverOptions.Name, checked with metalink.CheckName (an
//     unsafe name is an error wrapping metalink.ErrUnsafeName); its size is the
//     Content-Length (-1 when absent or the response is content-encoded); its hashes
//     are every supported digest (the fetch hash policy then applies: md5 or sha-1 only
//     is weak); its URLs are rawURL (without credentials, no priority) plus each Link
//     rel=duplicate (resolved against the final URL; http and https only, without
//     userinfo; pri and geo become Priority and Location; at most MaxDuplicates; a
//     link to the URL itself is dropped). A malformed digest field is an error
//     (metalink.ErrBadHash), never a fallback to a weaker hash.
//  4. Otherwise one file, the URL as its only source, no hash (DiscoveryPlain).
//     Link rel=duplicate fields without a digest are ignored (RFC 6249 §6: the mirrors
//     cannot be checked), with a warning.
//
// Only the response to rawURL is parsed for Link and digest fields: the final response
// after redirects, or, when a redirect response carries a digest or a describedby
// metalink Link (MirrorBrain answers with a redirect to a mirror that has them), the
// first such redirect, whose URL then resolves relative links (the
// size still comes from the final response). Get never parses Link fields of mirror
// responses (RFC 6249 §2). Credentials in rawURL's userinfo are
// sent (as Basic authorization) only to rawURL's origin: they are added to each
// request for that origin by the transport (OriginAuth), so no redirect to another
// origin carries them, whatever the client's CheckRedirect, and neither does a
// describedby metalink elsewhere nor a mirror. The URLs of the returned metalink carry no
// credentials. A non-2xx answer is an error naming the status.
func Discover(ctx context.Context, rawURL string, opts DiscoverOptions) (*Discovery, error) {
	o := opts
	if o.Client == nil {
		o.Client = NewClient(10*time.Second, 4)
		o.Client.Timeout = 2 * time.Minute
		defer o.Client.CloseIdleConnections()
	}
	if o.UserAgent == "" {
		o.UserAgent = "mlink"
	}
	if o.MaxMetalinkBytes <= 0 {
		o.MaxMetalinkBytes = DefaultMaxMetalinkBytes
	}
	if o.MaxDuplicates <= 0 {
		o.MaxDuplicates = DefaultMaxDuplicates
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Redact(rawURL), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, errNotHTTP(u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("%s: URL without a host", Redact(rawURL))
	}
	dc := &discoverer{o: o, asked: u}
	// Whatever the caller's client does on a redirect, RedirectPolicy applies first:
	// the metalink, the trust root, is never read after a redirect from https to http
	// or to another scheme (Go's default follows them), and at most 10 redirects.
	c := *o.Client
	if check := o.Client.CheckRedirect; check != nil {
		c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if err := RedirectPolicy(req, via); err != nil {
				return err
			}
			return check(req, via)
		}
	} else {
		c.CheckRedirect = RedirectPolicy
	}
	if u.User != nil {
		// The credentials are added per request, by the transport, to requests for
		// u's origin only: never copied onto a redirect to another origin, whatever
		// the client's CheckRedirect (Go's default keeps them for another port or a
		// subdomain).
		c.Transport = OriginAuth(c.Transport, rawURL)
	}
	dc.o.Client = &c
	clean := *u
	clean.User = nil
	clean.Fragment = ""
	dc.clean = &clean
	return dc.run(ctx)
}

type discoverer struct {
	o     DiscoverOptions // o.Client adds asked's credentials (OriginAuth)
	asked *url.URL        // as given
	clean *url.URL        // without userinfo and fragment
}

func (dc *discoverer) newRequest(ctx context.Context, method string, u *url.URL) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", dc.o.UserAgent)
	req.Header.Set("Accept", mediaMetalink4+", "+mediaMetalink3+";q=0.9, */*;q=0.1")
	// The bytes Get downloads (it asks for identity): a digest or size of a gzip
	// coding would describe other bytes. Set, it also keeps Go's transport from
	// asking for gzip on its own.
	req.Header.Set("Accept-Encoding", "identity")
	return req, nil
}

func (dc *discoverer) run(ctx context.Context) (*Discovery, error) {
	if hasMetalinkExt(dc.clean.Path) {
		m, final, err := dc.getMetalink(ctx, dc.clean)
		if err != nil {
			return nil, err
		}
		return &Discovery{Kind: DiscoveryMetalink, Metalink: m, URL: Redact(final), MetalinkURL: Redact(final)}, nil
	}
	resp, hops, err := dc.probe(ctx)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	final := resp.Request.URL
	d := &Discovery{URL: Redact(final.String())}
	if isMetalinkType(resp.Header.Get("Content-Type")) || hasMetalinkExt(final.Path) {
		d.Kind = DiscoveryMetalink
		d.MetalinkURL = d.URL
		if resp.Request.Method == http.MethodGet {
			d.Metalink, err = dc.decode(resp)
		} else {
			var at string
			d.Metalink, at, err = dc.getMetalink(ctx, final)
			d.MetalinkURL = Redact(at)
		}
		if err != nil {
			return nil, err
		}
		return d, nil
	}

	// The Metalink/HTTP fields: of the first redirect response that has any (a
	// MirrorBrain-style server redirects to a mirror and puts them on the redirect),
	// else of the final response. Relative links resolve against the URL that sent them.
	header, base := resp.Header, final
	for _, h := range hops {
		if hasMetalinkFields(h.header) {
			header, base = h.header, h.url
			break
		}
	}
	links, err := httphdr.ParseLink(header.Values("Link")...)
	if err != nil {
		d.Warnings = append(d.Warnings, fmt.Sprintf("Link header ignored: %v", err))
		links = nil
	}
	digests, err := responseDigests(header)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Redact(base.String()), err)
	}

	if dl, ok := describedBy(links); ok {
		return dc.describedBy(ctx, d, base, dl, digests)
	}

	var dups []httphdr.Link
	for _, l := range links {
		if l.HasRel("duplicate") {
			dups = append(dups, l)
		}
	}
	f := metalink.File{Size: -1}
	// Named after the URL the user gave, never after a redirect target (SECURITY.md
	// rule 4; wget CVE-2010-2252).
	if f.Name, err = dc.fileName(dc.clean); err != nil {
		return nil, err
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		d.Warnings = append(d.Warnings, fmt.Sprintf("the server sends Content-Encoding %q: size unknown", ce))
	} else if resp.ContentLength >= 0 {
		f.Size = resp.ContentLength
	}
	f.URLs = []metalink.URL{{URL: dc.clean.String()}}
	if len(digests) == 0 {
		if len(dups) > 0 {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%d Link rel=duplicate mirror(s) ignored: the server sent no Digest or Repr-Digest to check them against", len(dups)))
		}
		d.Kind = DiscoveryPlain
		d.Metalink = &metalink.Metalink{Files: []metalink.File{f}}
		return d, nil
	}
	for _, dg := range digests {
		f.Hashes = append(f.Hashes, metalink.Hash{Type: dg.Algorithm, Value: dg.Hex()})
	}
	d.Kind = DiscoveryDuplicates
	if f.Size < 0 && len(dups) > 0 {
		// Without a size nothing can be split across mirrors, and a body of unknown
		// length from a mirror nobody vouches for could run until the disk is full:
		// the file comes from the server the user named, checked against its digest.
		d.Warnings = append(d.Warnings, fmt.Sprintf("%d Link rel=duplicate mirror(s) ignored: the size is unknown, so the file comes from this server alone", len(dups)))
		dups = nil
	}
	f.URLs, d.Mirrors = dc.duplicates(d, base, dups, f.URLs)
	d.Metalink = &metalink.Metalink{Files: []metalink.File{f}}
	return d, nil
}

// hop is a redirect response met on the way to the final response: a Metalink server
// such as MirrorBrain puts its Link and Digest fields on the redirect to a mirror.
type hop struct {
	url    *url.URL // the URL that answered with the redirect
	header http.Header
}

// probe sends the HEAD request (GET when HEAD is refused with 405 or 501, or with 403:
// a presigned URL, as S3 makes them, is valid for one method only) and checks
// the status. It returns the redirect responses met on the way (at most the client's
// redirect cap). The caller closes the body.
func (dc *discoverer) probe(ctx context.Context) (*http.Response, []hop, error) {
	var resp *http.Response
	var hops []hop
	client := *dc.o.Client
	client.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.Response != nil && len(hops) < maxRedirects {
			hops = append(hops, hop{url: via[len(via)-1].URL, header: req.Response.Header})
		}
		return dc.o.Client.CheckRedirect(req, via) // never nil: see Discover
	}
	for _, method := range []string{http.MethodHead, http.MethodGet} {
		hops = hops[:0]
		req, err := dc.newRequest(ctx, method, dc.clean)
		if err != nil {
			return nil, nil, err
		}
		req.Header.Set("Want-Digest", "sha-256")
		req.Header.Set("Want-Repr-Digest", "sha-256=10")
		resp, err = client.Do(req)
		if err != nil {
			return nil, nil, err
		}
		if method == http.MethodHead && (resp.StatusCode == http.StatusMethodNotAllowed || resp.StatusCode == http.StatusNotImplemented ||
			resp.StatusCode == http.StatusForbidden) {
			resp.Body.Close()
			continue
		}
		break
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, nil, fmt.Errorf("%s: HTTP %s", Redact(resp.Request.URL.String()), resp.Status)
	}
	return resp, hops, nil
}

// getMetalink fetches u with GET and decodes the body as a metalink; it returns the
// final URL. The response's Link fields are not looked at.
func (dc *discoverer) getMetalink(ctx context.Context, u *url.URL) (*metalink.Metalink, string, error) {
	req, err := dc.newRequest(ctx, http.MethodGet, u)
	if err != nil {
		return nil, "", err
	}
	resp, err := dc.o.Client.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	final := resp.Request.URL.String()
	if resp.StatusCode != http.StatusOK {
		return nil, final, fmt.Errorf("fetching the metalink %s: HTTP %s", Redact(final), resp.Status)
	}
	m, err := dc.decode(resp)
	return m, final, err
}

// decode reads a metalink body (relative URLs resolved against the final URL).
func (dc *discoverer) decode(resp *http.Response) (*metalink.Metalink, error) {
	final := resp.Request.URL.String()
	if resp.ContentLength > dc.o.MaxMetalinkBytes {
		return nil, fmt.Errorf("metalink %s: %w: %d bytes, more than %d", Redact(final), metalink.ErrTooLarge, resp.ContentLength, dc.o.MaxMetalinkBytes)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, fmt.Errorf("metalink %s: %w: Content-Encoding %q", Redact(final), metalink.ErrNotMetalink, ce)
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && (mt == "text/html" || mt == "application/xhtml+xml") {
		return nil, fmt.Errorf("metalink %s: %w: the server sent an HTML page (Content-Type %s)", Redact(final), metalink.ErrNotMetalink, mt)
	}
	m, err := metalink.Decode(resp.Body, &metalink.DecodeOptions{BaseURL: final, MaxBytes: dc.o.MaxMetalinkBytes})
	if err != nil {
		// Keep the document (with its refused entries) when Decode returned one.
		return m, fmt.Errorf("metalink %s: %w", Redact(final), err)
	}
	return m, nil
}

// describedBy returns the first Link rel=describedby to a metalink, v4 before v3.
func describedBy(links []httphdr.Link) (httphdr.Link, bool) {
	var v3 *httphdr.Link
	for i, l := range links {
		if !l.HasRel("describedby") {
			continue
		}
		mt, _, err := mime.ParseMediaType(l.Type())
		if err != nil {
			continue
		}
		switch mt {
		case mediaMetalink4:
			return l, true
		case mediaMetalink3:
			if v3 == nil {
				v3 = &links[i]
			}
		}
	}
	if v3 != nil {
		return *v3, true
	}
	return httphdr.Link{}, false
}

func (dc *discoverer) describedBy(ctx context.Context, d *Discovery, base *url.URL, l httphdr.Link, digests []httphdr.Digest) (*Discovery, error) {
	mu, err := base.Parse(l.URL)
	if err != nil {
		return nil, fmt.Errorf("%s: Link rel=describedby %q: %v", d.URL, l.URL, err)
	}
	if mu.Scheme != "http" && mu.Scheme != "https" {
		return nil, fmt.Errorf("%s: Link rel=describedby %s: %w", d.URL, Redact(mu.String()), errNotHTTP(mu.Scheme))
	}
	if mu.User != nil {
		return nil, fmt.Errorf("%s: Link rel=describedby %s: a URL with credentials is refused", d.URL, Redact(mu.String()))
	}
	if mu.Scheme == "http" && (dc.clean.Scheme == "https" || base.Scheme == "https") {
		// The metalink is the trust root: never read it over plain http when the
		// user asked for https (SECURITY.md rule 18).
		return nil, fmt.Errorf("%s: Link rel=describedby %s: refused: a metalink over plain http for an https URL", d.URL, Redact(mu.String()))
	}
	mu.Fragment = ""
	m, at, err := dc.getMetalink(ctx, mu)
	if err != nil {
		return nil, fmt.Errorf("%s: Link rel=describedby: %w", d.URL, err)
	}
	d.Kind = DiscoveryDescribedBy
	d.MetalinkURL = Redact(at)
	d.Metalink = m
	if len(m.Files) > 1 {
		want := map[string]bool{}
		if n := l.Params["name"]; n != "" && metalink.CheckName(n) == nil {
			want[n] = true
		} else {
			for _, u := range []*url.URL{dc.clean, base} {
				if seg, err := lastSegment(u); err == nil && seg != "" {
					want[seg] = true
				}
			}
		}
		var keep []metalink.File
		for _, f := range m.Files {
			if want[f.Name] || want[path.Base(f.Name)] {
				keep = append(keep, f)
			}
		}
		if len(keep) > 0 {
			m.Files = keep
		}
	}
	if len(m.Files) == 1 {
		var originSum string
		for _, dg := range digests {
			if dg.Algorithm == "sha-256" {
				originSum = dg.Hex()
			}
		}
		for _, h := range m.Files[0].Hashes {
			if h.Type == "sha-256" && originSum != "" && !strings.EqualFold(h.Value, originSum) {
				return nil, fmt.Errorf("%s: %w: the describedby metalink %s gives %s another sha-256 than the server's digest (a metalink of another version?)",
					d.URL, ErrVerify, d.MetalinkURL, m.Files[0].Name)
			}
		}
	}
	return d, nil
}

// duplicates turns Link rel=duplicate fields (relative to base, the URL whose response
// carried them) into mirrors appended to urls; it returns them and how many were added.
func (dc *discoverer) duplicates(d *Discovery, base *url.URL, dups []httphdr.Link, urls []metalink.URL) ([]metalink.URL, int) {
	seen := map[string]bool{dc.clean.String(): true, base.String(): true}
	n, skipped, capped := 0, 0, 0
	for _, l := range dups {
		mu, err := base.Parse(l.URL)
		if err != nil || (mu.Scheme != "http" && mu.Scheme != "https") || mu.Host == "" || mu.User != nil {
			skipped++
			continue
		}
		mu.Fragment = ""
		s := mu.String()
		if seen[s] {
			continue // the server itself (RFC 6249 §2) or a repeat
		}
		seen[s] = true
		if n >= dc.o.MaxDuplicates {
			capped++
			continue
		}
		mu2 := metalink.URL{URL: s}
		if p, ok := l.Pri(); ok {
			mu2.Priority = p
		}
		if g := l.Geo(); len(g) == 2 && g[0] >= 'a' && g[0] <= 'z' && g[1] >= 'a' && g[1] <= 'z' {
			mu2.Location = g
		}
		urls = append(urls, mu2)
		n++
	}
	if skipped > 0 {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%d Link rel=duplicate mirror(s) ignored: only http and https URLs without credentials are used", skipped))
	}
	if capped > 0 {
		d.Warnings = append(d.Warnings, fmt.Sprintf("%d Link rel=duplicate mirror(s) ignored: more than %d", capped, dc.o.MaxDuplicates))
	}
	return urls, n
}

// fileName is the name of a file built from headers: DiscoverOptions.Name or the last
// path segment of u, percent-decoded, which must be a safe single name.
func (dc *discoverer) fileName(u *url.URL) (string, error) {
	name := dc.o.Name
	if name == "" {
		seg, err := lastSegment(u)
		if err != nil {
			return "", fmt.Errorf("%s: file name from the URL: %w", Redact(u.String()), err)
		}
		if seg == "" {
			return "", fmt.Errorf("%s: %w: the URL's path has no file name (give an output name)", Redact(u.String()), metalink.ErrUnsafeName)
		}
		if strings.Contains(seg, "/") {
			return "", fmt.Errorf("%s: %w: the file name %q from the URL contains a slash", Redact(u.String()), metalink.ErrUnsafeName, seg)
		}
		name = seg
	}
	if err := metalink.CheckName(name); err != nil {
		if !errors.Is(err, metalink.ErrUnsafeName) {
			err = fmt.Errorf("%w: %v", metalink.ErrUnsafeName, err)
		}
		return "", fmt.Errorf("%s: file name %q: %w", Redact(u.String()), name, err)
	}
	return name, nil
}

// lastSegment returns the percent-decoded last segment of u's path ("" when the path
// ends in a slash or is empty).
func lastSegment(u *url.URL) (string, error) {
	p := u.EscapedPath()
	seg := p[strings.LastIndexByte(p, '/')+1:]
	return url.PathUnescape(seg)
}

// responseDigests returns the supported digests of a response's Repr-Digest and
// Digest fields. A malformed field, or two fields giving different values for one
// algorithm, is an error wrapping metalink.ErrBadHash.
func responseDigests(h http.Header) ([]httphdr.Digest, error) {
	var out []httphdr.Digest
	add := func(field string, ds []httphdr.Digest) error {
		for _, d := range ds {
			dup := false
			for _, o := range out {
				if o.Algorithm == d.Algorithm {
					if string(o.Value) != string(d.Value) {
						return fmt.Errorf("%w: %s: two different %s digests", metalink.ErrBadHash, field, d.Algorithm)
					}
					dup = true
				}
			}
			if !dup {
				out = append(out, d)
			}
		}
		return nil
	}
	if vs := h.Values("Repr-Digest"); len(vs) > 0 {
		ds, err := httphdr.ParseReprDigest(strings.Join(vs, ", "))
		if err != nil {
			return nil, fmt.Errorf("%w: Repr-Digest: %v", metalink.ErrBadHash, err)
		}
		if err := add("Repr-Digest", ds); err != nil {
			return nil, err
		}
	}
	if vs := h.Values("Digest"); len(vs) > 0 {
		ds, err := httphdr.ParseDigest(strings.Join(vs, ", "))
		if err != nil {
			return nil, fmt.Errorf("%w: Digest: %v", metalink.ErrBadHash, err)
		}
		if err := add("Digest and Repr-Digest", ds); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func hasMetalinkExt(p string) bool {
	p = strings.ToLower(p)
	return strings.HasSuffix(p, ".meta4") || strings.HasSuffix(p, ".metalink")
}

func isMetalinkType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && (mt == mediaMetalink4 || mt == mediaMetalink3)
}

// hasMetalinkFields reports whether h carries Metalink/HTTP information: a digest or a
// Link rel=describedby to a metalink.
func hasMetalinkFields(h http.Header) bool {
	if h.Get("Digest") != "" || h.Get("Repr-Digest") != "" {
		return true
	}
	links, err := httphdr.ParseLink(h.Values("Link")...)
	if err != nil {
		return false
	}
	_, ok := describedBy(links)
	return ok
}

// OriginAuth returns a RoundTripper that sends the credentials of rawURL's userinfo
// (HTTP Basic) with the requests for rawURL's origin (scheme, host and port) and with
// no other request; it returns next unchanged when rawURL has no userinfo. Use it for
// the Client of a download whose source URL carries credentials (Discover's file URLs
// never do): the source's own server gets them, mirrors and redirect targets elsewhere
// never do (SECURITY.md rule 3). A request that already has an Authorization field
// is sent as it is.
func OriginAuth(next http.RoundTripper, rawURL string) http.RoundTripper {
	u, err := url.Parse(rawURL)
	if err != nil || u.User == nil {
		return next
	}
	if next == nil {
		next = http.DefaultTransport
	}
	pw, _ := u.User.Password()
	return &originAuth{next: next, origin: origin(u), user: u.User.Username(), pass: pw}
}

type originAuth struct {
	next       http.RoundTripper
	origin     string
	user, pass string
}

// CloseIdleConnections closes the idle connections of the wrapped transport, so that
// http.Client.CloseIdleConnections still reaches it.
func (a *originAuth) CloseIdleConnections() {
	if c, ok := a.next.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

func (a *originAuth) RoundTrip(req *http.Request) (*http.Response, error) {
	if origin(req.URL) != a.origin || req.Header.Get("Authorization") != "" {
		return a.next.RoundTrip(req)
	}
	r := req.Clone(req.Context())
	r.SetBasicAuth(a.user, a.pass)
	return a.next.RoundTrip(r)
}
