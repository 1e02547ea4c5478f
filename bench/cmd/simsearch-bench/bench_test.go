package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseCPUInfo_FirstProcessor(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "cpuinfo"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	model, flags := parseCPUInfo(f)
	if want := "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz"; model != want {
		t.Errorf("model %q, want %q", model, want)
	}
	want := []string{"sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8", "sha_ni"}
	if !slices.Equal(flags, want) {
		t.Errorf("flags %v, want %v", flags, want)
	}
}

func TestParseProcFields(t *testing.T) {
	if got := parseMemTotal("MemFree:  10 kB\nMemTotal:       24684084 kB\n"); got != 24684084*1024 {
		t.Errorf("MemTotal %d", got)
	}
	if got := parseVmHWM("Name:\tsimsearch\nVmPeak:\t  900 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1000 kB\n"); got != 2048*1024 {
		t.Errorf("VmHWM %d", got)
	}
	if got := load1("0.65 0.34 0.13"); got != 0.65 {
		t.Errorf("load1 %v", got)
	}
	if got := load1(""); got != -1 {
		t.Errorf("load1 of nothing %v", got)
	}
}

func TestParsePeers(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "peers.json"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := parsePeers(data)
	if err != nil {
		t.Fatal(err)
	}
	h := got["hnswlib"]
	if h.N != 2000 || h.VectorsPS != 4000 || h.Version != "0.6.2-2+deb12u1" || h.Skipped != "" {
		t.Errorf("hnswlib: %+v", h)
	}
	if len(h.Efs) != 2 || h.Efs[0].Ef != 16 || h.Efs[1].Recall != 0.95 || h.Efs[1].Batch1MS != 0.18 {
		t.Errorf("hnswlib efs not sorted or not read: %+v", h.Efs)
	}
	if f := got["faiss"]; !strings.HasPrefix(f.Skipped, "skipped: faiss not installed") {
		t.Errorf("faiss skipped %q", f.Skipped)
	}
	if _, err := parsePeers([]byte("Traceback (most recent call last):")); err == nil {
		t.Error("no error for output that is not JSON")
	}
}

func TestComparePeer_InterpolatesAtPeerRecall(t *testing.T) {
	ours := annFigure{Efs: []efFigure{
		{Ef: 16, Recall: 0.80, P50MS: 0.10},
		{Ef: 32, Recall: 0.90, P50MS: 0.20},
		{Ef: 64, Recall: 0.99, P50MS: 0.40},
	}}
	peer := annFigure{Efs: []efFigure{
		{Ef: 16, Recall: 0.70, P50MS: 0.05},                  // below our lowest: our ef 16
		{Ef: 32, Recall: 0.851, P50MS: 0.20, Batch1MS: 0.10}, // halfway: 0.15 ms against its batch mean
		{Ef: 64, Recall: 0.9995, P50MS: 0.30},                // not reached even with the slack
	}}
	got := comparePeer("p", 100, ours, peer)
	if len(got) != 3 {
		t.Fatalf("%d comparisons", len(got))
	}
	if c := got[0]; !c.Reached || c.OursMS != 0.10 || c.Ratio != 2 || c.WithinTgt {
		t.Errorf("below our lowest ef: %+v", c)
	}
	if c := got[1]; !c.Reached || abs(c.OursMS-0.15) > 1e-9 || c.PeerMS != 0.10 || abs(c.Ratio-1.5) > 1e-9 || !c.WithinTgt {
		t.Errorf("interpolated: %+v", c)
	}
	if c := got[2]; c.Reached || c.WithinTgt || c.OursTop != 0.99 {
		t.Errorf("not reached: %+v", c)
	}
}

func abs(x float64) float64 { return max(x, -x) }

func TestReport_Markdown(t *testing.T) {
	r := &Report{
		Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC),
		Command: "go run ./cmd/simsearch-bench",
		Machine: Machine{Hostname: "box", CPUModel: "Xeon", Cores: 2, LoadStart: "1.20 0.50 0.10", LoadEnd: "0.10 0.10 0.10", ORTVersion: "1.24.3"},
		Sections: []Section{{
			ID: "index", Title: "2. Index", Command: "go run ./cmd/simsearch-bench -rows index",
			Targets: []Target{{What: "latency", Want: "≤ 1.5×", Got: "2.0×", Met: false}},
			Tables:  []Table{{Caption: "cap", Header: []string{"a", "b|c"}, Rows: [][]string{{"1", "2"}}}},
			Notes:   []string{"a note"},
		}, {ID: "store", Title: "3. Store", Error: "boom"}},
	}
	md := r.Markdown()
	for _, want := range []string{
		"# simsearch benchmark\n",
		"| CPU | Xeon |",
		"**Noisy:** the one-minute load average was 1.20",
		"| latency | ≤ 1.5× | 2.0× | **no** |",
		"`go run ./cmd/simsearch-bench -rows index`",
		"| a | b\\|c |\n| --- | --- |\n| 1 | 2 |",
		"- a note",
		"**Failed:** boom",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	r.Machine.LoadStart = "0.10 0.10 0.10"
	r.Quick = true
	md = r.Markdown()
	if strings.Contains(md, "Noisy") || !strings.Contains(md, "quick mode") {
		t.Errorf("quiet quick run rendered wrong:\n%s", md)
	}
}

func TestReport_WriteNamesByDateAndHost(t *testing.T) {
	dir := t.TempDir()
	r := &Report{Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Machine: Machine{Hostname: "a/b"},
		Sections: []Section{{ID: "e2e", Raw: &e2eRaw{Photos: 3}}}}
	paths, err := r.Write(dir)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "2026-01-02-a-b.md"), filepath.Join(dir, "2026-01-02-a-b.json")}
	if !slices.Equal(paths, want) {
		t.Fatalf("paths %v, want %v", paths, want)
	}
	data, err := os.ReadFile(want[1])
	if err != nil {
		t.Fatal(err)
	}
	var back struct {
		Sections []struct {
			Raw struct {
				Photos int `json:"photos"`
			} `json:"raw"`
		} `json:"sections"`
	}
	if err := json.Unmarshal(data, &back); err != nil || back.Sections[0].Raw.Photos != 3 {
		t.Errorf("raw figures did not round-trip: %v %+v", err, back)
	}
}

func TestWriteNpy_Header(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.npy")
	if err := writeNpyFloat32(path, [][]float32{{1, 2, 3}, {4, 5, 6}}); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(data, []byte("\x93NUMPY\x01\x00")) {
		t.Fatalf("magic %q", data[:8])
	}
	hlen := int(binary.LittleEndian.Uint16(data[8:10]))
	if (10+hlen)%64 != 0 || data[10+hlen-1] != '\n' {
		t.Errorf("header of %d bytes does not end a 64-byte block with a newline", hlen)
	}
	if h := string(data[10 : 10+hlen]); !strings.Contains(h, "'descr': '<f4'") || !strings.Contains(h, "'shape': (2, 3)") {
		t.Errorf("header %q", h)
	}
	if len(data)-10-hlen != 6*4 {
		t.Errorf("%d bytes of data, want 24", len(data)-10-hlen)
	}
}

func TestParseConfig(t *testing.T) {
	c, err := parseConfig([]string{"-quick", "-rows", "e2e,extract,e2e"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.quick || !slices.Equal(c.rows, []string{"extract", "e2e"}) {
		t.Errorf("config %+v", c)
	}
	if _, err := parseConfig([]string{"-rows", "nope"}, io.Discard); err == nil {
		t.Error("no error for an unknown row")
	}
	s := sizesFor(false, true)
	if !slices.Equal(s.indexN, []int{100_000, 1_000_000}) || s.e2eN != 1000 {
		t.Errorf("full sizes %+v", s)
	}
}

func TestConvShape_GFLOP(t *testing.T) {
	// The ceiling: 2·256·256·9·56·56·8.
	if got := (convShape{Batch: 8, Channels: 256, Side: 56}).GFLOP(); abs(got-29.595) > 0.001 {
		t.Errorf("GFLOP %v", got)
	}
}

func TestPhotoJPEG_SeedsDiffer(t *testing.T) {
	a, err := photoJPEG(96, 64, 1)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := photoJPEG(96, 64, 2)
	c, _ := photoJPEG(96, 64, 1)
	if bytes.Equal(a, b) || !bytes.Equal(a, c) {
		t.Error("photos are not a function of their seed")
	}
}
