package main

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"errors"
	"html/template"
	"net/http"

	"github.com/statsd-agent/statsd-agent/clientlib"
)

// iterations of PBKDF2-SHA256 for the demo's password hashes (kept low so
// the demo and its tests are quick; a real service uses far more).
const iterations = 10000

// app is the demo application: a login page over a users table.
type app struct {
	c  *clientlib.Client
	db *sql.DB
}

// newApp opens the instrumented database, creates the users table and adds
// the demo user.
func newApp(ctx context.Context, c *clientlib.Client, path string) (*app, error) {
	db, err := c.OpenDB("users", "sqlite", path)
	if err != nil {
		return nil, err
	}
	a := &app{c: c, db: db}
	if err := a.init(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) init(ctx context.Context) error {
	if _, err := a.db.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS users (
		name TEXT PRIMARY KEY, salt BLOB NOT NULL, hash BLOB NOT NULL)`); err != nil {
		return err
	}
	return a.addUser(ctx, "demo", "demo")
}

func (a *app) addUser(ctx context.Context, name, password string) error {
	salt := make([]byte, 16)
	rand.Read(salt)
	hash, err := pbkdf2.Key(sha256.New, password, salt, iterations, 32)
	if err != nil {
		return err
	}
	_, err = a.db.ExecContext(ctx, `INSERT OR REPLACE INTO users (name, salt, hash) VALUES (?, ?, ?)`, name, salt, hash)
	return err
}

// handler returns the application's routes, instrumented by the middleware.
func (a *app) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.index)
	mux.HandleFunc("POST /login", a.login)
	mux.HandleFunc("GET /users/{name}", a.user)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /panic", func(w http.ResponseWriter, r *http.Request) {
		panic("demo panic: see http.panics")
	})
	return a.c.Middleware(mux)
}

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>statsd-agent demo</title>
<style>body{font-family:sans-serif;max-width:36em;margin:3em auto}label{display:block;margin:.5em 0}</style>
</head><body>
<h1>statsd-agent demo</h1>
{{if .Message}}<p><strong>{{.Message}}</strong></p>{{end}}
<form method="post" action="/login">
<label>User <input name="user" value="demo" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button>Log in</button>
</form>
<p>Try demo / demo, a wrong password, <a href="/users/demo">/users/demo</a>,
<a href="/users/nobody">/users/nobody</a> or <a href="/panic">/panic</a>,
then look at the agent's output.</p>
</body></html>
`))

func (a *app) index(w http.ResponseWriter, r *http.Request) {
	page.Execute(w, struct{ Message string }{})
}

// login checks the form's user and password against the users table.
func (a *app) login(w http.ResponseWriter, r *http.Request) {
	user, password := r.PostFormValue("user"), r.PostFormValue("password")
	ok, err := a.check(r.Context(), user, password)
	result := "failure"
	switch {
	case err != nil:
		result = "error"
		http.Error(w, "internal error", http.StatusInternalServerError)
	case ok:
		result = "success"
		a.c.Set("login.users", user) // distinct users per interval
		page.Execute(w, struct{ Message string }{"Welcome, " + user + "!"})
	default:
		w.WriteHeader(http.StatusUnauthorized)
		page.Execute(w, struct{ Message string }{"Wrong user or password."})
	}
	a.c.Incr("login.attempts", clientlib.Tag{"result", result})
}

func (a *app) check(ctx context.Context, user, password string) (bool, error) {
	defer a.c.Time("login.check")()
	var salt, hash []byte
	err := a.db.QueryRowContext(ctx, `SELECT salt, hash FROM users WHERE name = ?`, user).Scan(&salt, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	got, err := pbkdf2.Key(sha256.New, password, salt, iterations, len(hash))
	if err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, hash) == 1, nil
}

// user reports whether a user exists: its route is tagged "/users/{name}"
// whatever the name, so the number of series stays bounded.
func (a *app) user(w http.ResponseWriter, r *http.Request) {
	var n int
	if err := a.db.QueryRowContext(r.Context(), `SELECT count(*) FROM users WHERE name = ?`, r.PathValue("name")).Scan(&n); err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if n == 0 {
		http.NotFound(w, r)
		return
	}
	w.Write([]byte("user " + r.PathValue("name") + " exists\n"))
}
