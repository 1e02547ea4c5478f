package onnx

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
)

func TestSummary_Golden(t *testing.T) {
	v, err := NewVGG(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Summary(&buf, v.Model); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary_tiny.golden", buf.Bytes())
}

// TestSummary_VGG16Totals checks the totals against the published figures:
// 14,714,688 parameters and 15.35 G multiply-adds (30.7 GFLOPs) per image.
func TestSummary_VGG16Totals(t *testing.T) {
	v, err := NewVGG(VGG16Config(false))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := Summary(&buf, v.Model); err != nil {
		t.Fatal(err)
	}
	golden(t, "summary_vgg16_random.golden", buf.Bytes())
	for _, want := range []string{
		"Total params: 14,714,688",
		"Multiply-adds per image: 15,346,630,656 (30.69 GFLOPs)",
		"block5_pool (MaxPool)  (N, 512, 7, 7)",
		"block1_conv2 (Conv)    (N, 64, 224, 224)      36,928  1,849,688,064",
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestDot_Renders(t *testing.T) {
	v, err := NewVGG(tinyConfig())
	if err != nil {
		t.Fatal(err)
	}
	v.Model.Graph.Node[0].Name = ptr(`odd "name" {with|record} chars\`)
	var buf bytes.Buffer
	if err := Dot(&buf, v.Model); err != nil {
		t.Fatal(err)
	}
	got := buf.String()
	// input, 7 trunk nodes, flatten, 2 dense + 1 relu, 2 outputs.
	for _, want := range []string{"in0 ", "n11 ", "out0 ", "out1 ", "n11 -> out1", "n7 -> out0", "(N, 8, 8, 8)"} {
		if !strings.Contains(got, want) {
			t.Errorf("dot output lacks %q:\n%s", want, got)
		}
	}
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("graphviz dot not installed; cannot check that the graph renders")
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = &buf
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 || !bytes.Contains(out, []byte("<svg")) {
		t.Errorf("dot -Tsvg: %v, stderr %q", err, stderr.String())
	}
}

func ptr[T any](v T) *T { return &v }
