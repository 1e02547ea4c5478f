package dedup

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
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
		Keeper:       store.Item{Path: keeper, Width: 300, Height: 200, Size: 1000},
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
				if i < len(rows) && (len(rows[i]) != 11 || rows[i][9] != w[0] || rows[i][10] != w[1]) {
					t.Errorf("csv row %d = %q, want it to end %q", i, rows[i], w)
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
