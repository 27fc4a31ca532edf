package publish

import (
	"log/slog"
	"net/http"
	"time"
)

// Timeouts and limits of the server NewServer returns.
const (
	// ServerReadHeaderTimeout bounds how long a client may take to send its
	// request line and header fields (slowloris).
	ServerReadHeaderTimeout = 10 * time.Second
	// ServerIdleTimeout closes a kept-alive connection idle this long.
	ServerIdleTimeout = 2 * time.Minute
	// ServerMaxHeaderBytes caps the request header size (431 beyond).
	ServerMaxHeaderBytes = 64 << 10
)

// NewServer returns an *http.Server for h on addr with the timeouts and
// limits a public mirror needs: ServerReadHeaderTimeout, ServerIdleTimeout,
// ServerMaxHeaderBytes. It sets no WriteTimeout, which would cut off every
// download longer than it: Handler keeps a per-write deadline instead
// (HandlerOptions.WriteStallTimeout). Server errors go to logger (nil =
// discarded). HTTP/2 is enabled by net/http when the server is started with
// ServeTLS or ListenAndServeTLS.
func NewServer(addr string, h http.Handler, logger *slog.Logger) *http.Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: ServerReadHeaderTimeout,
		IdleTimeout:       ServerIdleTimeout,
		MaxHeaderBytes:    ServerMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}
