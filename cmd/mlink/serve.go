package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mlinkdev/mlink/publish"
	"github.com/spf13/cobra"
)

func init() { register(newServeCmd) }

// serveShutdownGrace is how long in-flight requests get to finish after
// SIGINT/SIGTERM before their connections are closed.
const serveShutdownGrace = 10 * time.Second

func newServeCmd(e *env) *cobra.Command {
	var (
		addr, mirrorsFile, certFile, keyFile, cacheFile, baseURL string
		uploadTokenFile                                          string
		maxRanges, linkMirrors                                   int
		negotiate, quiet                                         bool
		hashes                                                   []string
	)
	c := &cobra.Command{
		Use:   "serve DIR",
		Short: "Serve a directory tree as a Metalink mirror and origin server",
		Long: `serve publishes the files under DIR over HTTP (HTTPS and HTTP/2 with --tls-cert
and --tls-key) as a mirror and origin server:

  - GET and HEAD with byte ranges (single and multipart/byteranges), strong ETags
    derived from the sha-256 of the content, Last-Modified and conditional requests;
    range sets over --max-ranges are answered with the whole file;
  - RFC 6249 Metalink/HTTP: Link rel=duplicate for the mirrors, Link rel=describedby
    for NAME.meta4, Digest (SHA-256, SHA-512 on Want-Digest) and RFC 9530 Repr-Digest;
  - NAME.meta4 (Metalink v4) and NAME.metalink (v3) for every file NAME, listing the
    mirrors and this server;
  - an HTML index for directories.

Files are hashed on first request (once, whatever the number of clients; other files
are served meanwhile) and the hashes are kept in memory and, with --cache, on disk.
The server keeps the cache file open (locked) while it runs, so give it a file of its
own; "mlink publish --cache FILE DIR" run before starting the server fills it, so that
no client waits for a large file to be hashed. Dotfiles are hidden and nothing
outside DIR is served, not even through a symbolic link. Requests are logged on stderr.
SIGINT or SIGTERM stops the server gracefully (exit 0).

The mirrors file has one mirror per line: "URL [priority=N] [location=CC]"; a file
NAME is at URL/NAME on each mirror.`,
		Example: `  mlink serve ./dist
  mlink serve ./dist --addr 0.0.0.0:8080 --mirrors mirrors.txt --cache hashes.db --hash sha-512
  mlink serve /srv/pub --addr :443 --tls-cert cert.pem --tls-key key.pem --base-url https://dl.example.org/`,
		Args: cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := serveCheckDir(args[0]); err != nil {
				return withCode(exitError, err)
			}
			if (certFile == "") != (keyFile == "") {
				return usageError("--tls-cert and --tls-key go together")
			}
			if maxRanges < 0 {
				return usageError("--max-ranges must be positive")
			}
			if linkMirrors == 0 {
				linkMirrors = -1 // none; the handler reads 0 as its default
			}
			logger := slog.New(slog.NewTextHandler(e.stderr, nil))
			reqLogger := logger
			if quiet {
				reqLogger = nil
			}
			opts := publish.HandlerOptions{
				MaxRanges:   maxRanges,
				LinkMirrors: max(linkMirrors, -1),
				Negotiate:   negotiate,
				BaseURL:     baseURL,
				Logger:      reqLogger,
				Generator:   "mlink/" + version(),
			}
			if mirrorsFile != "" {
				f, err := os.Open(mirrorsFile)
				if err != nil {
					return fmt.Errorf("--mirrors: %w", err)
				}
				ms, err := publish.ParseMirrorsFile(f)
				f.Close()
				if err != nil {
					return fmt.Errorf("%s: %w", mirrorsFile, err)
				}
				opts.Mirrors = ms
			}
			// sha-256 is always computed: the ETag and the Digest RFC 6249 requires.
			hasher := &publish.Hasher{Hashes: []string{"sha-256"}}
			for _, h := range hashes {
				canon, err := checkHashName("--hash", h)
				if err != nil {
					return err
				}
				if canon != "sha-256" {
					hasher.Hashes = append(hasher.Hashes, canon)
				}
			}
			if err := hasher.Check(); err != nil {
				return usageError("--hash: %v", err)
			}
			if cacheFile != "" {
				cache, err := publish.OpenCache(cacheFile)
				if err != nil {
					return err
				}
				defer cache.Close()
				for _, w := range cache.Warnings() {
					logger.Warn("hash cache", "warning", w)
				}
				hasher.Cache = cache
			}
			opts.Sums = hasher
			h, err := publish.NewHandler(args[0], opts)
			if err != nil {
				return err
			}
			defer h.Close()
			var handler http.Handler = h
			if uploadTokenFile != "" {
				tok, err := publish.ReadUploadToken(uploadTokenFile)
				if err != nil {
					return err
				}
				up, err := publish.NewUploadHandler(args[0], publish.UploadOptions{Token: tok, Logger: logger})
				if err != nil {
					return err
				}
				defer up.Close()
				handler = up.Mount(h)
			}
			if certFile != "" {
				// Loaded again by ServeTLS; checked here so that a bad pair fails
				// before "serving ..." is printed.
				if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
					return fmt.Errorf("--tls-cert %s, --tls-key %s: %w", certFile, keyFile, err)
				}
			}
			ln, err := net.Listen("tcp", addr)
			if err != nil {
				return serveListenHint(err, addr)
			}
			srv := publish.NewServer(addr, handler, logger)
			scheme := "http"
			if certFile != "" {
				scheme = "https"
			}
			fmt.Fprintf(e.stderr, "mlink: serving %s at %s://%s/\n", args[0], scheme, ln.Addr())
			errc := make(chan error, 1)
			go func() {
				if certFile != "" {
					errc <- srv.ServeTLS(ln, certFile, keyFile)
				} else {
					errc <- srv.Serve(ln)
				}
			}()
			select {
			case err := <-errc:
				return err
			case <-e.ctx.Done():
			}
			ctx, cancel := context.WithTimeout(context.Background(), serveShutdownGrace)
			defer cancel()
			err = srv.Shutdown(ctx)
			if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
				return serr
			}
			if err != nil {
				srv.Close()
				return fmt.Errorf("shutdown: %w", err)
			}
			fmt.Fprintln(e.stderr, "mlink: server stopped")
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address (host:port)")
	f.StringVar(&mirrorsFile, "mirrors", "", "file listing the mirrors of DIR, one \"URL [priority=N] [location=CC]\" per line")
	f.StringVar(&certFile, "tls-cert", "", "TLS certificate (PEM); serves HTTPS and HTTP/2")
	f.StringVar(&keyFile, "tls-key", "", "TLS private key (PEM)")
	f.StringVar(&cacheFile, "cache", "", "hash cache file (created if missing); hashes survive restarts")
	f.StringVar(&uploadTokenFile, "upload-token-file", "", "enable resumable uploads (mlink push) authorised by the bearer token in `FILE`")
	f.StringVar(&baseURL, "base-url", "", "public URL of DIR, for the metalinks' own URLs (default: from each request's Host)")
	f.IntVar(&maxRanges, "max-ranges", publish.DefaultMaxRanges, "most byte ranges honoured in one request; more get the whole file")
	f.IntVar(&linkMirrors, "link-mirrors", publish.DefaultLinkMirrors, "most mirrors announced in Link headers per response (the metalinks list all)")
	f.StringSliceVar(&hashes, "hash", nil, "whole-file `hashes` besides sha-256 for the metalinks (sha-512 also answers Want-Digest: SHA-512)")
	f.BoolVar(&negotiate, "negotiate", false, "answer a GET whose Accept asks for application/metalink4+xml with the metalink")
	f.BoolVar(&quiet, "quiet", false, "do not log requests")
	return c
}

// serveCheckDir turns the common mistakes about serve's DIR into errors that say
// what to do: a file given instead of its directory, a directory that is not there.
func serveCheckDir(dir string) error {
	st, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: no such directory; serve publishes an existing directory tree", dir)
	case err != nil:
		return err
	case !st.IsDir():
		return fmt.Errorf("%s is a file; serve publishes a directory tree, so give its directory: mlink serve %s", dir, filepath.Dir(dir))
	}
	return nil
}

// serveListenHint adds what to do to the two usual reasons a listen fails.
func serveListenHint(err error, addr string) error {
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("%w; another program listens on %s: stop it or give another --addr (e.g. 127.0.0.1:8081)", err, addr)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("%w; ports below 1024 need privileges: give --addr with a higher port (e.g. 127.0.0.1:8080) behind a reverse proxy, or grant CAP_NET_BIND_SERVICE", err)
	}
	return err
}
