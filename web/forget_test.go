package web

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
)

type decisionsJSON struct {
	Decisions []struct {
		ID   uint64 `json:"id"`
		Kind string `json:"kind"`
	} `json:"decisions"`
}

// catGroup is the id of the group kept by cat.jpg (0 when it is not
// listed), and the listing.
func (f *fixture) catGroup(t *testing.T, header ...string) (uint64, groupsJSON) {
	t.Helper()
	var gs groupsJSON
	f.getJSON(t, "/api/v1/duplicates", &gs, header...)
	for _, g := range gs.Groups {
		if g.Keeper.Path == f.cat {
			return g.ID, gs
		}
	}
	return 0, gs
}

// A decision forgotten through DELETE /api/v1/decisions/{id} is gone from
// the list, and its group is offered again; forgetting is refused, with a
// JSON error and the decision kept, for bad ids, other origins and a
// read-only server.
func TestAPI_ForgetDecision(t *testing.T) {
	f := newFixture(t, nil)
	group, _ := f.catGroup(t)
	if group == 0 {
		t.Fatal("no group kept by cat.jpg")
	}
	for _, kind := range []string{"keep", "ignore"} {
		if status, b := f.postJSON(t, "/api/v1/decisions", map[string]any{"kind": kind, "group": group}); status != 200 {
			t.Fatalf("decide %s: %d %s", kind, status, b)
		}
		if again, _ := f.catGroup(t); again != 0 {
			t.Fatalf("after %q the group of cat.jpg is still offered", kind)
		}
		var ds decisionsJSON
		f.getJSON(t, "/api/v1/decisions", &ds)
		if len(ds.Decisions) != 1 || ds.Decisions[0].Kind != kind {
			t.Fatalf("decisions after %q: %+v", kind, ds)
		}
		id := ds.Decisions[0].ID
		path := fmt.Sprintf("/api/v1/decisions/%d", id)

		// Refused: the decision stays.
		for _, c := range []struct {
			name   string
			header []string
			status int
			says   string
		}{
			{"cross-origin", []string{"Origin", "http://evil.example"}, 403, "cross-origin"},
			{"cross-site without Origin", []string{"Sec-Fetch-Site", "cross-site"}, 403, "cross-site"},
		} {
			status, b, _ := f.do(t, "DELETE", path, nil, c.header...)
			if status != c.status || !strings.Contains(jsonError(t, b), c.says) {
				t.Errorf("%s DELETE: %d %s; want %d saying %q", c.name, status, b, c.status, c.says)
			}
		}
		f.getJSON(t, "/api/v1/decisions", &ds)
		if len(ds.Decisions) != 1 {
			t.Fatalf("a refused DELETE forgot the decision: %+v", ds)
		}

		status, b, _ := f.do(t, "DELETE", path, nil, "Origin", f.srv.URL)
		var d struct {
			ID   uint64 `json:"id"`
			Kind string `json:"kind"`
		}
		if status != 200 || json.Unmarshal(b, &d) != nil || d.ID != id || d.Kind != kind {
			t.Fatalf("forget %s: %d %s", kind, status, b)
		}
		f.getJSON(t, "/api/v1/decisions", &ds)
		if len(ds.Decisions) != 0 {
			t.Errorf("decisions after forgetting: %+v, want none", ds)
		}
		back, gs := f.catGroup(t)
		if back == 0 || gs.SetAside != 0 {
			t.Errorf("after forgetting %q: group of cat.jpg offered %v, set aside %d; want it back, none set aside", kind, back != 0, gs.SetAside)
		}
		group = back
		if status, b, _ := f.do(t, "DELETE", path, nil, "Origin", f.srv.URL); status != 404 || !strings.Contains(jsonError(t, b), "no such decision") {
			t.Errorf("forget %d twice: %d %s, want 404", id, status, b)
		}
	}

	for _, c := range []struct{ path, says string }{
		{"/api/v1/decisions/abc", "want a decision id"},
		{"/api/v1/decisions/0", "want a decision id"},
		{"/api/v1/decisions/-1", "want a decision id"},
		{"/api/v1/decisions/99999999999999999999", "want a decision id"},
		{"/api/v1/decisions/..%2F..%2Fetc%2Fpasswd", "no .."},
		{"/api/v1/decisions/%2Fetc%2Fpasswd", "no .., //"},
		{"/api/v1/decisions/999999", "no such decision"},
	} {
		status, b, _ := f.do(t, "DELETE", c.path, nil, "Origin", f.srv.URL)
		want := 400
		if c.says == "no such decision" {
			want = 404
		}
		if status != want || !strings.Contains(jsonError(t, b), c.says) {
			t.Errorf("DELETE %s: %d %s; want %d saying %q", c.path, status, b, want, c.says)
		}
		var ok map[string]bool
		f.getJSON(t, "/healthz", &ok)
	}
}

// Without a token, or on a read-only server, nothing is forgotten.
func TestAPI_ForgetRefused(t *testing.T) {
	const token = "0123456789abcdef-secret"
	f := newFixture(t, &Options{Token: token})
	bearer := []string{"Authorization", "Bearer " + token}
	group, _ := f.catGroup(t, bearer...)
	body := fmt.Sprintf(`{"kind": "ignore", "group": %d}`, group)
	if status, b, _ := f.do(t, "POST", "/api/v1/decisions", strings.NewReader(body), append([]string{"Content-Type", "application/json", "Origin", f.srv.URL}, bearer...)...); status != 200 {
		t.Fatalf("decide: %d %s", status, b)
	}
	var ds decisionsJSON
	f.getJSON(t, "/api/v1/decisions", &ds, bearer...)
	if len(ds.Decisions) != 1 {
		t.Fatalf("decisions: %+v", ds)
	}
	path := fmt.Sprintf("/api/v1/decisions/%d", ds.Decisions[0].ID)
	for _, c := range []struct {
		name   string
		header []string
	}{
		{"no token", []string{"Origin", f.srv.URL}},
		{"wrong token", []string{"Origin", f.srv.URL, "Authorization", "Bearer 0123456789abcdef-wrong"}},
	} {
		if status, b, _ := f.do(t, "DELETE", path, nil, c.header...); status != 401 || jsonError(t, b) == "" {
			t.Errorf("%s: DELETE %s: %d %s, want 401", c.name, path, status, b)
		}
	}
	f.getJSON(t, "/api/v1/decisions", &ds, bearer...)
	if len(ds.Decisions) != 1 {
		t.Errorf("a DELETE without the token forgot the decision: %+v", ds)
	}

	ro, err := New(f.h.eng, &Options{Token: token, MoveTo: f.moveTo})
	if err != nil {
		t.Fatal(err)
	}
	rf := &fixture{srv: httptest.NewServer(ro)}
	defer rf.srv.Close()
	if status, b, _ := rf.do(t, "DELETE", path, nil, append([]string{"Origin", rf.srv.URL}, bearer...)...); status != 403 || !strings.Contains(jsonError(t, b), "read-only") {
		t.Errorf("DELETE on a read-only server: %d %s, want 403", status, b)
	}
	f.getJSON(t, "/api/v1/decisions", &ds, bearer...)
	if len(ds.Decisions) != 1 {
		t.Errorf("a read-only server forgot the decision: %+v", ds)
	}
}

// jsonError is the error of a JSON error body, "" when it is not one.
func jsonError(t *testing.T, b []byte) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || strings.Contains(e.Error, "\n") {
		return ""
	}
	return e.Error
}
