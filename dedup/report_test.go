package dedup

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"html"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/simsearch/simsearch/internal/store"
)

func TestWriteReport(t *testing.T) {
	dir := t.TempDir()
	img := image.NewRGBA(image.Rect(0, 0, 300, 200))
	for i := range img.Pix {
		img.Pix[i] = byte(i)
	}
	img.Set(0, 0, color.White)
	keeper := filepath.Join(dir, "keep.png")
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keeper, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	broken := filepath.Join(dir, "broken.jpg")
	if err := os.WriteFile(broken, []byte("not an image"), 0o644); err != nil {
		t.Fatal(err)
	}
	ref := filepath.Join(dir, "ref", "keep.png")
	groups := []Group{{
		Keeper:       store.Item{Path: keeper, Width: 300, Height: 200, Size: 1000, Format: "png", TakenAt: "2019-05-02T10:11:12+02:00", Make: "Canon", Model: "Canon EOS 5D"},
		KeeperReason: "most pixels (300×200)",
		Members: []Member{
			{Item: store.Item{Path: broken, Width: 150, Height: 100, Size: 12}, Score: 0.93, Reason: Near},
			{Item: store.Item{Path: ref, Width: 300, Height: 200, Size: 1000}, Score: 1, Reason: Exact, Protected: true},
		},
	}}
	tests := []struct {
		f     Format
		check func(t *testing.T, out string)
	}{
		{Table, func(t *testing.T, out string) {
			for _, want := range []string{"keep  most pixels (300×200)", keeper, "near", "0.9300", "1 groups, 2 duplicates"} {
				if !strings.Contains(out, want) {
					t.Errorf("table lacks %q:\n%s", want, out)
				}
			}
		}},
		{Table, func(t *testing.T, out string) {
			// A reference copy is listed as ref, never dup: a script that
			// acts on dup rows leaves it alone.
			for _, line := range strings.Split(out, "\n") {
				if strings.HasSuffix(line, ref) && !strings.HasPrefix(line, "1      ref ") {
					t.Errorf("reference copy listed as %q, want role ref", line)
				}
			}
		}},
		{JSON, func(t *testing.T, out string) {
			var r struct {
				Groups []Group `json:"groups"`
			}
			if err := json.Unmarshal([]byte(out), &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Groups) != 1 || r.Groups[0].Keeper.Path != keeper || r.Groups[0].Members[0].Reason != Near || r.Groups[0].Members[0].Score != 0.93 {
				t.Errorf("json round trip: %+v", r)
			}
			if g := r.Groups[0]; g.KeeperReason != "most pixels (300×200)" || g.Members[0].Protected || !g.Members[1].Protected {
				t.Errorf("json keeper reason %q, protected %t %t; want the reason and only the second protected",
					g.KeeperReason, g.Members[0].Protected, g.Members[1].Protected)
			}
			if !strings.Contains(out, `"keeper_reason": "most pixels (300×200)"`) || !strings.Contains(out, `"protected": true`) {
				t.Errorf("json lacks keeper_reason or protected:\n%s", out)
			}
			if k := r.Groups[0].Keeper; k.TakenAt != "2019-05-02T10:11:12+02:00" || k.Make != "Canon" || k.Model != "Canon EOS 5D" {
				t.Errorf("json keeper capture time %q, camera %q %q", k.TakenAt, k.Make, k.Model)
			}
			if n := strings.Count(out, `"taken": ""`); n != 2 {
				t.Errorf("json has %d empty capture times, want 2 (the members):\n%s", n, out)
			}
		}},
		{CSV, func(t *testing.T, out string) {
			rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != 4 || rows[1][1] != "keep" || rows[2][2] != "near" || rows[2][5] != keeper {
				t.Errorf("csv rows %q", rows)
			}
			want := [][]string{
				{"keeper_reason", "protected"},
				{"most pixels (300×200)", "false"},
				{"most pixels (300×200)", "false"},
				{"most pixels (300×200)", "true"},
			}
			for i, w := range want {
				if i < len(rows) && (len(rows[i]) != 15 || rows[i][9] != w[0] || rows[i][10] != w[1]) {
					t.Errorf("csv row %d = %q, want it to end %q", i, rows[i], w)
				}
			}
			wantMeta := [][]string{
				{"format", "taken", "camera_make", "camera_model"},
				{"png", "2019-05-02T10:11:12+02:00", "Canon", "Canon EOS 5D"},
				{"", "", "", ""},
			}
			for i, w := range wantMeta {
				if i < len(rows) && len(rows[i]) == 15 && strings.Join(rows[i][11:], ",") != strings.Join(w, ",") {
					t.Errorf("csv row %d ends %q, want %q", i, rows[i][11:], w)
				}
			}
			if len(rows) == 4 && rows[3][1] != "ref" {
				t.Errorf("reference copy has role %q, want ref", rows[3][1])
			}
		}},
		{HTML, func(t *testing.T, out string) {
			if n := strings.Count(out, "data:image/jpeg;base64,"); n != 1 {
				t.Errorf("%d inline thumbnails, want 1 (the broken file has none)", n)
			}
			if !strings.Contains(out, `class="card keep"`) || !strings.Contains(out, "KEEP: most pixels (300×200)") {
				t.Error("keeper or its reason not marked")
			}
			if !strings.Contains(out, "(reference, never touched)") {
				t.Error("reference copy not marked")
			}
			if !strings.Contains(out, "no preview") {
				t.Error("broken file not explained")
			}
			if n := strings.Count(out, `<p class="taken">`); n != 1 || !strings.Contains(html.UnescapeString(out), `<p class="taken">taken 2019-05-02 10:11+02:00, Canon EOS 5D</p>`) {
				t.Errorf("%d capture lines, want the keeper's alone: taken 2019-05-02 10:11+02:00, Canon EOS 5D", n)
			}
			if strings.Contains(out, "src=\"http") || strings.Contains(out, "<link") {
				t.Error("report is not self-contained")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(string(tt.f), func(t *testing.T) {
			var b strings.Builder
			if err := WriteReport(&b, tt.f, groups, decodePNG); err != nil {
				t.Fatal(err)
			}
			tt.check(t, b.String())
		})
	}
}

// decodePNG stands in for the extractor's decoder.
func decodePNG(path string) (image.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return png.Decode(f)
}

func TestTakenTextAndCamera(t *testing.T) {
	for in, want := range map[string]string{
		"2019-05-02T10:11:12+02:00":     "2019-05-02 10:11+02:00",
		"2019-05-02T10:11:12.25Z":       "2019-05-02 10:11Z",
		"2019-05-02T10:11:12-05:30":     "2019-05-02 10:11-05:30",
		"2019-05-02T10:11:12":           "2019-05-02 10:11",
		"2019-05-02T10:11:12.123456789": "2019-05-02 10:11",
		"":                              "",
	} {
		if got := TakenText(in); got != want {
			t.Errorf("TakenText(%q) = %q, want %q", in, got, want)
		}
	}
	for _, tt := range []struct{ make, model, want string }{
		{"Canon", "Canon EOS 5D", "Canon EOS 5D"},
		{"NIKON CORPORATION", "NIKON D850", "NIKON CORPORATION NIKON D850"},
		{"Apple", "iPhone 15 Pro", "Apple iPhone 15 Pro"},
		{"", "X-T4", "X-T4"},
		{"FUJIFILM", "", "FUJIFILM"},
		{"", "", ""},
	} {
		if got := camera(Item{Make: tt.make, Model: tt.model}); got != tt.want {
			t.Errorf("camera(%q, %q) = %q, want %q", tt.make, tt.model, got, tt.want)
		}
	}
}
