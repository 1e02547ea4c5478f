package dedup

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Find leaves out of a group every candidate that Options.Apart says
// must stay apart from its keeper or from a member already in it, exact
// copies included, and asks only about candidates it would otherwise
// group.
func TestFind_Apart(t *testing.T) {
	// a, b, c within 20° of each other (cos 20° ≈ 0.94); d far away; a2
	// has a's content.
	f := newFixture(t, []spec{
		{path: "/p/a.jpg", deg: 0, content: "a", w: 400, h: 400},
		{path: "/p/a2.jpg", deg: 0, content: "a", w: 400, h: 400},
		{path: "/p/b.jpg", deg: 10, w: 300, h: 300},
		{path: "/p/c.jpg", deg: 20, w: 200, h: 200},
		{path: "/p/d.jpg", deg: 90, w: 100, h: 100},
	})
	name := func(it Item) string { return strings.TrimSuffix(strings.TrimPrefix(it.Path, "/p/"), ".jpg") }
	tests := []struct {
		apart []string // "keeper candidate" pairs kept apart, either way round
		want  []string
	}{
		{nil, []string{"/p/a.jpg: /p/a2.jpg(exact) /p/b.jpg(near) /p/c.jpg(near)"}},
		{[]string{"a b"}, []string{"/p/a.jpg: /p/a2.jpg(exact) /p/c.jpg(near)"}},
		// Not around another keeper either: c may not join b in a's group.
		{[]string{"b c"}, []string{"/p/a.jpg: /p/a2.jpg(exact) /p/b.jpg(near)"}},
		// a2 stays alone: every candidate near it is taken.
		{[]string{"a a2"}, []string{"/p/a.jpg: /p/b.jpg(near) /p/c.jpg(near)"}},
		// Kept apart from a, b and c group around b.
		{[]string{"a b", "a c", "a a2"}, []string{"/p/a2.jpg: /p/b.jpg(near) /p/c.jpg(near)"}},
		{[]string{"a b", "a c", "a2 b", "a2 c", "b c"}, []string{"/p/a.jpg: /p/a2.jpg(exact)"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.apart), func(t *testing.T) {
			set := map[string]bool{}
			for _, p := range tt.apart {
				x, y, _ := strings.Cut(p, " ")
				set[x+" "+y], set[y+" "+x] = true, true
			}
			var asked []string
			o := &Options{Threshold: 0.9, Apart: func(k, c Item) bool {
				asked = append(asked, name(k)+" "+name(c))
				return set[name(k)+" "+name(c)]
			}}
			groups, err := Find(context.Background(), f.items, f, f.idx, o)
			if err != nil {
				t.Fatal(err)
			}
			if got := layout(groups); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("groups = %q, want %q", got, tt.want)
			}
			for _, p := range asked {
				if strings.Contains(p, "d") {
					t.Errorf("Apart asked about %q, which is not within the threshold", p)
				}
			}
		})
	}
}

func TestWriteReportSummary(t *testing.T) {
	groups := []Group{{Keeper: Item{Path: "/p/a.jpg"}, Members: []Member{{Item: Item{Path: "/p/b.jpg"}, Score: 1, Reason: Exact}}}}
	for _, tt := range []struct {
		n    int
		want string
	}{{0, "1 groups, 1 duplicates\n"}, {1, "1 groups, 1 duplicates; 1 pair set aside by decisions\n"}, {3, "1 groups, 1 duplicates; 3 pairs set aside by decisions\n"}} {
		var buf bytes.Buffer
		if err := WriteReportSummary(&buf, Table, groups, Summary{SetAside: tt.n}, nil); err != nil {
			t.Fatal(err)
		}
		if !strings.HasSuffix(buf.String(), "\n"+tt.want) {
			t.Errorf("table with %d set aside ends %q, want %q", tt.n, buf.String(), tt.want)
		}
	}
	// JSON keeps its object with "groups" and adds the count beside it.
	var buf bytes.Buffer
	if err := WriteReportSummary(&buf, JSON, groups, Summary{SetAside: 2}, nil); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Groups   []Group `json:"groups"`
		SetAside *int    `json:"pairs_set_aside"`
	}
	if err := json.Unmarshal(buf.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Groups) != 1 || r.SetAside == nil || *r.SetAside != 2 {
		t.Errorf("json = %s", buf.Bytes())
	}
	buf.Reset()
	if err := WriteReport(&buf, JSON, nil, nil); err != nil || !strings.Contains(buf.String(), `"pairs_set_aside": 0`) {
		t.Errorf("json without decisions = %s, %v; want the count, 0", buf.Bytes(), err)
	}
}

// Options.Prefer makes the items it names keepers whatever the policy,
// in policy order among themselves.
func TestFind_Prefer(t *testing.T) {
	f := newFixture(t, []spec{
		{path: "/p/big.jpg", deg: 0, w: 400, h: 400},
		{path: "/p/mid.jpg", deg: 5, w: 300, h: 300},
		{path: "/p/small.jpg", deg: 10, w: 200, h: 200},
		{path: "/q/big.jpg", deg: 60, w: 400, h: 400},
		{path: "/q/small.jpg", deg: 65, w: 200, h: 200},
	})
	prefer := map[string]bool{"/p/small.jpg": true, "/p/mid.jpg": true, "/q/small.jpg": true}
	groups, err := Find(context.Background(), f.items, f, f.idx, &Options{Threshold: 0.9, Prefer: func(it Item) bool { return prefer[it.Path] }})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/p/mid.jpg: /p/big.jpg(near) /p/small.jpg(near)", "/q/small.jpg: /q/big.jpg(near)"}
	if got := layout(groups); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("groups = %q, want %q", got, want)
	}
}
