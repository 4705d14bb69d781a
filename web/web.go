// Package web holds the wallboard: a page, its script and its style,
// embedded in the binary and served under /dashboard/. It loads nothing
// from elsewhere: no CDN, no fonts, no chart library, so it works on a
// network with no way out.
package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed dashboard
var files embed.FS

// Dashboard serves the wallboard's files under /dashboard/. The page needs
// no credentials; its calls to the API carry the key the user enters.
func Dashboard() http.Handler {
	sub, err := fs.Sub(files, "dashboard")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/dashboard/")
		if name == "" {
			name = "index.html"
		}
		content, err := fs.ReadFile(sub, name)
		if err != nil || strings.Contains(name, "/") {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			body, _ := json.Marshal(struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			}{http.StatusNotFound, fmt.Sprintf("the dashboard has no file %q; open /dashboard/", name)})
			w.Write(body)
			return
		}
		h := w.Header()
		// The page is small and changes with the binary: always revalidated.
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		// The page runs only its own script and talks only to this server.
		h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		// The files are small: served whole (no ranges, whose errors would
		// not be JSON), with the type their name says.
		h.Set("Content-Type", mime.TypeByExtension(path.Ext(name)))
		h.Set("Content-Length", strconv.Itoa(len(content)))
		w.WriteHeader(http.StatusOK)
		if r.Method != http.MethodHead {
			w.Write(content)
		}
	})
}
