package fetch

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxRedirects caps the redirects one request follows.
const maxRedirects = 10

// NewClient returns the HTTP client Get uses when Options.Client is nil: keep-alive
// with up to conns idle connections per host, HTTP/2 when the server offers it, no
// transparent decompression, a 64 KiB response-header cap, connect, TLS and
// response-header timeouts, and CheckRedirect from RedirectPolicy. TLS verification
// stays on.
func NewClient(connectTimeout time.Duration, conns int) *http.Client {
	if connectTimeout <= 0 {
		connectTimeout = 10 * time.Second
	}
	if conns < 4 {
		conns = 4
	}
	tr := &http.Transport{
		Proxy:                  http.ProxyFromEnvironment,
		DialContext:            (&net.Dialer{Timeout: connectTimeout, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:      true,
		MaxIdleConns:           4 * conns,
		MaxIdleConnsPerHost:    conns,
		IdleConnTimeout:        90 * time.Second,
		TLSHandshakeTimeout:    connectTimeout,
		ResponseHeaderTimeout:  30 * time.Second,
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
		ReadBufferSize:         64 << 10,
		WriteBufferSize:        16 << 10,
	}
	return &http.Client{Transport: tr, CheckRedirect: RedirectPolicy}
}

// RedirectPolicy is the http.Client.CheckRedirect of NewClient: at most 10
// redirects, only http and https, never from https to http, and the Authorization,
// Cookie and Proxy-Authorization headers removed whenever the origin (scheme, host,
// port) changes (SECURITY.md rules 3 and 13). Errors name the redacted chain.
func RedirectPolicy(req *http.Request, via []*http.Request) error {
	chain := func() string {
		s := make([]string, 0, len(via)+1)
		for _, r := range via {
			s = append(s, Redact(r.URL.String()))
		}
		return strings.Join(append(s, Redact(req.URL.String())), " -> ")
	}
	if len(via) >= maxRedirects {
		return fmt.Errorf("%w: stopped after %d redirects: %s", ErrRedirect, maxRedirects, chain())
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("%w: to a %q URL: %s", ErrRedirect, s, chain())
	}
	prev := via[len(via)-1]
	if prev.URL.Scheme == "https" && req.URL.Scheme == "http" {
		return fmt.Errorf("%w: from https to http: %s", ErrRedirect, chain())
	}
	if req.URL.User != nil {
		return fmt.Errorf("%w: to a URL with credentials: %s", ErrRedirect, chain())
	}
	if origin(req.URL) != origin(via[0].URL) {
		for _, h := range []string{"Authorization", "Cookie", "Proxy-Authorization"} {
			req.Header.Del(h)
		}
	}
	return nil
}

func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + strings.ToLower(u.Hostname()) + ":" + port
}

// Redact returns a URL without userinfo and with the query values hidden, for logs
// and reports (SECURITY.md rule 17).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.User = nil
	if u.RawQuery != "" {
		u.RawQuery = "REDACTED"
	}
	u.Fragment = ""
	return u.String()
}
