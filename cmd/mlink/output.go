package main

import (
	"encoding/json"
	"io"
)

// writeJSON writes v as the indented JSON every --json flag prints (one document,
// newline-terminated, '<', '>' and '&' left as they are).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
