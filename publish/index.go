package publish

import (
	"bytes"
	"cmp"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/mlinkdev/mlink/metalink"
)

// maxIndexEntries bounds a directory listing; the page says when it was cut.
const maxIndexEntries = 10000

// indexEntry is one row of a directory index page.
type indexEntry struct {
	Name      string
	Href      string
	IsDir     bool
	Size      int64
	SizeText  string
	Modified  string
	SHA256    string
	Meta4Href string
	Mirrors   []indexMirror
}

// indexMirror is a link to one mirror's copy of a file.
type indexMirror struct {
	Label string
	URL   string
}

// indexPage is the data of the directory index template.
type indexPage struct {
	Title     string
	Parent    bool
	Entries   []indexEntry
	Truncated bool
	Generator string
}

var indexTemplate = template.Must(template.New("index").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Index of {{.Title}}</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0 auto;padding:1rem;max-width:72rem;color:#1d1d1f;background:#fff}
h1{font-size:1.3rem;word-break:break-all}
table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.45rem .6rem;border-bottom:1px solid #e3e3e3;vertical-align:top}
th{font-size:.85rem;color:#555}
td.size,th.size{text-align:right;white-space:nowrap}
td.date{white-space:nowrap}
code{font-size:.78rem;word-break:break-all;color:#444}
a{color:#0645ad;text-decoration:none}
a:hover{text-decoration:underline}
.links a{margin-right:.6rem;white-space:nowrap;display:inline-block}
.dir a.name{font-weight:600}
footer{margin-top:1rem;font-size:.8rem;color:#777}
@media (max-width:40rem){
 thead{display:none}
 table,tbody,tr,td{display:block;width:100%;box-sizing:border-box}
 tr{border-bottom:1px solid #ccc;padding:.4rem 0}
 td{border:0;padding:.15rem .2rem}
 td.size,td.date{display:inline-block;width:auto;text-align:left;color:#555;font-size:.85rem}
 td:empty{display:none}
 a.name{font-size:1.05rem}
}
@media (prefers-color-scheme:dark){body{background:#111;color:#ddd}a{color:#8ab4f8}code{color:#bbb}th,td{border-color:#333}}
</style>
</head>
<body>
<h1>Index of {{.Title}}</h1>
<table>
<thead><tr><th>Name</th><th class="size">Size</th><th>Modified (UTC)</th><th>SHA-256</th><th>Links</th></tr></thead>
<tbody>
{{- if .Parent}}
<tr class="dir"><td><a class="name" href="../">../</a></td><td class="size"></td><td class="date"></td><td></td><td></td></tr>
{{- end}}
{{- range .Entries}}
<tr{{if .IsDir}} class="dir"{{end}}>
<td><a class="name" href="{{.Href}}">{{.Name}}{{if .IsDir}}/{{end}}</a></td>
<td class="size"{{if not .IsDir}} title="{{.Size}} bytes"{{end}}>{{.SizeText}}</td>
<td class="date">{{.Modified}}</td>
<td>{{if .SHA256}}<code>{{.SHA256}}</code>{{end}}</td>
<td class="links">{{if .Meta4Href}}<a class="meta4" href="{{.Meta4Href}}">.meta4</a> {{end}}{{range .Mirrors}}<a class="mirror" href="{{.URL}}">{{.Label}}</a> {{end}}</td>
</tr>
{{- end}}
</tbody>
</table>
{{- if .Truncated}}<p>Listing cut at {{len .Entries}} entries.</p>{{end}}
<footer>Served by {{.Generator}}. Each file has a Metalink (.meta4) listing its mirrors and hashes.</footer>
</body>
</html>
`))

// serveDir answers with the HTML index of the directory name ("." for the
// root). Dotfiles, entries that are neither regular files nor directories,
// and symbolic links leading outside the root are left out. SHA-256 values
// are shown for files already hashed; listing never triggers hashing.
func (h *Handler) serveDir(w *serveWriter, r *http.Request, name string) {
	d, err := h.root.Open(name)
	if err != nil {
		h.fileError(w, r, name, err)
		return
	}
	defer d.Close()
	if st, err := d.Stat(); err != nil || !st.IsDir() {
		h.fileError(w, r, name, err)
		return
	}
	des, err := d.ReadDir(-1)
	if err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelWarn, "listing failed", slog.String("name", name), slog.String("error", err.Error()))
		http.Error(w, "cannot list the directory", http.StatusInternalServerError)
		return
	}
	page := indexPage{Title: "/", Parent: name != ".", Generator: h.opts.Generator}
	if name != "." {
		page.Title = "/" + name + "/"
	}
	for _, de := range des {
		if strings.HasPrefix(de.Name(), ".") {
			continue
		}
		if len(page.Entries) == maxIndexEntries {
			page.Truncated = true
			break
		}
		rel := de.Name()
		if name != "." {
			rel = name + "/" + de.Name()
		}
		st, err := h.root.Stat(rel) // follows symbolic links, within the root only
		if err != nil || (!st.IsDir() && !st.Mode().IsRegular()) {
			continue
		}
		e := indexEntry{
			Name:     de.Name(),
			Href:     "./" + url.PathEscape(de.Name()),
			IsDir:    st.IsDir(),
			Modified: st.ModTime().UTC().Format("2006-01-02 15:04"),
		}
		if e.IsDir {
			e.Href += "/"
			e.SizeText = "-"
		} else {
			e.Size = st.Size()
			e.SizeText = humanSize(st.Size())
			e.SHA256 = h.sums.known(rel, st).sha256Hex()
			if !isMetalinkName(rel) && metalink.CheckName(de.Name()) == nil {
				e.Meta4Href = e.Href + ".meta4"
			}
			for _, m := range sortedMirrors(h.opts.Mirrors) {
				u, err := MirrorURL(m.URL, rel)
				if err != nil {
					continue
				}
				label := m.URL
				if pu, err := url.Parse(u); err == nil && pu.Host != "" {
					label = pu.Host
				}
				if m.Location != "" {
					label += " (" + strings.ToLower(m.Location) + ")"
				}
				e.Mirrors = append(e.Mirrors, indexMirror{Label: label, URL: u})
			}
		}
		page.Entries = append(page.Entries, e)
	}
	slices.SortFunc(page.Entries, func(a, b indexEntry) int {
		if a.IsDir != b.IsDir {
			if a.IsDir {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.Name, b.Name)
	})
	var buf bytes.Buffer
	if err := indexTemplate.Execute(&buf, page); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "index template failed", slog.String("error", err.Error()))
		http.Error(w, "cannot render the index", http.StatusInternalServerError)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-cache")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'")
	if r.Header.Get("Range") != "" {
		r = withRange(r, "") // generated pages are sent whole
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(buf.Bytes()))
}

// humanSize formats a byte count with binary units ("1.5 MiB").
func humanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	f := float64(n) / 1024
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
