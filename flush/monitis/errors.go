package monitis

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, matched with errors.Is against the errors the Client
// returns.
var (
	// ErrAuth means the service refused the keys, checksum or token
	// (HTTP 401/403, or an "error" naming authentication or a key). Retrying
	// does not help; the keys must be fixed.
	ErrAuth = errors.New("authentication failed")
	// ErrNameExists means addMonitor or editMonitor was given a monitor name
	// the account already uses.
	ErrNameExists = errors.New("monitor name exists")
	// ErrMalformed means the response body was not the JSON the action
	// returns (e.g. a proxy's HTML error page or a truncated body).
	ErrMalformed = errors.New("malformed response")
	// ErrMissingKeys means no API key or secret key was configured.
	ErrMissingKeys = errors.New("missing keys")
)

// APIError is a failure reported by the Monitis service: an {"error":"..."}
// body, a POST whose "status" is not "ok", or a non-2xx HTTP status.
type APIError struct {
	// Action is the API action, e.g. "addResult".
	Action string
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Message is the service's own message (the "error" or "status" text),
	// or the start of the body when it had neither.
	Message string
}

// Error returns e.g. `monitis: addResult: "Authentication failure" (HTTP 403)`.
func (e *APIError) Error() string {
	return fmt.Sprintf("monitis: %s: %q (HTTP %d)", e.Action, e.Message, e.StatusCode)
}

// Is makes errors.Is(err, ErrAuth) and errors.Is(err, ErrNameExists) work.
func (e *APIError) Is(target error) bool {
	switch target {
	case ErrAuth:
		return e.isAuth()
	case ErrNameExists:
		return strings.Contains(strings.ToLower(e.Message), "exist") &&
			strings.Contains(strings.ToLower(e.Message), "name")
	}
	return false
}

func (e *APIError) isAuth() bool {
	if e.StatusCode == 401 || e.StatusCode == 403 {
		return true
	}
	m := strings.ToLower(e.Message)
	for _, w := range []string{"authentication", "api key", "apikey", "secret key", "checksum", "token"} {
		if strings.Contains(m, w) {
			return true
		}
	}
	return false
}

// Temporary reports whether the failure is worth retrying: a server error
// (5xx) or a 429.
func (e *APIError) Temporary() bool {
	return e.StatusCode >= 500 || e.StatusCode == 429
}
