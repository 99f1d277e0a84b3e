// Go net/http baseline for bench/http: GET /healthz -> "ok", GET /users/{id} -> JSON from a map.
// Built and run by bench/http/index.ts (go build; PORT from the environment).
package main

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
)

type user struct {
	ID        int    `json:"id"`
	Name      string `json:"name"`
	Email     string `json:"email"`
	CreatedAt string `json:"createdAt"`
}

func main() {
	users := map[string]user{"1": {1, "Bench User", "bench@example.com", "2026-01-01T00:00:00.000Z"}}
	http.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain;charset=utf-8")
		w.Write([]byte("ok"))
	})
	http.HandleFunc("/users/", func(w http.ResponseWriter, r *http.Request) {
		u, ok := users[strings.TrimPrefix(r.URL.Path, "/users/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(u)
	})
	http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil)
}
