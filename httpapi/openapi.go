package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPI describes every endpoint, parameter, answer and error of the
// server (OpenAPI 3.1). A test checks real answers of every shape against it.
//
//go:embed openapi.json
var openAPI []byte

// OpenAPI returns the OpenAPI 3.1 document of the API.
func OpenAPI() []byte { return openAPI }

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(openAPI)
}
