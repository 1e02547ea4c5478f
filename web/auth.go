package web

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// tokenCookie carries the token after /login?token=... set it.
const tokenCookie = "simsearch_token"

// admit decides whether r may reach the routes: a path without "..", a
// loopback Host when there is no token, the token when there is one, and
// for anything but GET and HEAD a same-origin request.
func (h *Handler) admit(r *http.Request) error {
	if p := r.URL.Path; strings.Contains(p, "..") || strings.Contains(p, "\\") || strings.Contains(p, "//") || !strings.HasPrefix(p, "/") {
		return errorf(http.StatusBadRequest, "path %q: no .., // or backslash allowed", p)
	}
	if h.opts.Token == "" {
		if !loopbackHost(r.Host) {
			return errorf(http.StatusForbidden, "host %q: without a token this server answers only loopback names (localhost, 127.0.0.1, [::1])", r.Host)
		}
	} else if r.URL.Path != "/login" {
		switch tok := requestToken(r); {
		case tok == "":
			return errorf(http.StatusUnauthorized, "token required: open the URL `simsearch serve` printed, or send Authorization: Bearer TOKEN")
		case !h.tokenIs(tok):
			return errorf(http.StatusUnauthorized, "wrong token")
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := sameOrigin(r); err != nil {
			return err
		}
	}
	return nil
}

func (h *Handler) tokenIs(tok string) bool {
	return subtle.ConstantTimeCompare([]byte(tok), []byte(h.opts.Token)) == 1
}

// requestToken is the token r carries: the Authorization header's, else
// the cookie's.
func requestToken(r *http.Request) string {
	if a := r.Header.Get("Authorization"); a != "" {
		tok, ok := strings.CutPrefix(a, "Bearer ")
		if !ok {
			return ""
		}
		return strings.TrimSpace(tok)
	}
	if c, err := r.Cookie(tokenCookie); err == nil {
		return c.Value
	}
	return ""
}

// sameOrigin refuses a request a browser sent from another site: its
// Origin header (sent with every cross-origin POST) must be this server,
// and without one its Sec-Fetch-Site must not say cross-site. A request
// with neither comes from a program, which the token (when set) checks.
func sameOrigin(r *http.Request) error {
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if o == "null" || err != nil || u.Host != r.Host || (u.Scheme != "http" && u.Scheme != "https") {
			return errorf(http.StatusForbidden, "cross-origin request from %q refused", o)
		}
		return nil
	}
	if s := r.Header.Get("Sec-Fetch-Site"); s != "" && s != "same-origin" && s != "none" {
		return errorf(http.StatusForbidden, "cross-site request (Sec-Fetch-Site: %s) refused", s)
	}
	return nil
}

// loopbackHost reports whether a Host header names this machine's
// loopback interface.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsLoopback reports whether addr (host:port, as for net.Listen) binds
// only the loopback interface; an empty host binds every interface.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	return loopbackHost(host)
}

// login sets the token cookie when the URL's token is right and sends the
// browser to the page, so the token leaves the address bar.
func (h *Handler) login(w http.ResponseWriter, r *http.Request) error {
	if h.opts.Token == "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	if !h.tokenIs(r.URL.Query().Get("token")) {
		return errorf(http.StatusUnauthorized, "wrong or missing token in the login URL")
	}
	http.SetCookie(w, &http.Cookie{
		Name: tokenCookie, Value: h.opts.Token, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}
