package onnx

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/simsearch/simsearch/internal/onnx/onnxpb"
)

// layerRow is one node of the graph as Summary and Dot show it.
type layerRow struct {
	name, op, shape string
	params, macs    int64
}

// describe runs shape inference and returns a row per node, in graph order.
func describe(m *onnxpb.ModelProto) ([]layerRow, map[string][]int64, error) {
	shapes, err := InferShapes(m)
	if err != nil {
		return nil, nil, err
	}
	init := map[string]int64{}
	for _, t := range m.GetGraph().GetInitializer() {
		init[t.GetName()] = numel(t.GetDims())
	}
	var rows []layerRow
	for i, n := range m.GetGraph().GetNode() {
		r := layerRow{name: n.GetName(), op: n.GetOpType(), shape: "?"}
		if r.name == "" {
			r.name = fmt.Sprintf("%s_%d", strings.ToLower(r.op), i)
		}
		var out []int64
		if len(n.GetOutput()) > 0 {
			if d, ok := shapes[n.GetOutput()[0]]; ok {
				out = d
				r.shape = formatShape(d)
			}
		}
		for _, in := range n.GetInput() {
			r.params = satAdd(r.params, init[in])
		}
		r.macs = macs(n, out, shapes)
		rows = append(rows, r)
	}
	return rows, shapes, nil
}

// macs counts the multiply-adds of one node for one image (batch 1).
func macs(n *onnxpb.NodeProto, out []int64, shapes map[string][]int64) int64 {
	if len(out) == 0 || len(n.GetInput()) < 2 {
		return 0
	}
	w := shapes[n.GetInput()[1]]
	per := append([]int64{1}, out[1:]...)
	switch n.GetOpType() {
	case "Conv":
		if len(w) < 2 {
			return 0
		}
		return satMul(numel(per), numel(w[1:]))
	case "Gemm":
		if len(w) != 2 {
			return 0
		}
		k := w[0]
		if attrInt(n, "transB", 0) != 0 {
			k = w[1]
		}
		return satMul(numel(per), k)
	case "MatMul":
		if len(w) < 2 {
			return 0
		}
		return satMul(numel(per), w[len(w)-2])
	}
	return 0
}

func satMul(a, b int64) int64 { return numel([]int64{a, b}) }

func satAdd(a, b int64) int64 {
	if a > (1<<62) || b > (1<<62) {
		return 1 << 62
	}
	return a + b
}

func formatShape(d []int64) string {
	parts := make([]string, len(d))
	for i, v := range d {
		if v < 0 {
			parts[i] = batchParam
		} else {
			parts[i] = strconv.FormatInt(v, 10)
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// thousands formats n with comma separators, as Keras does.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Summary writes a layer table of m in the manner of Keras'
// model.summary(): each node's name and operator, its output shape (N is
// the batch), its parameter count and its multiply-adds per image, then
// the totals.
func Summary(w io.Writer, m *onnxpb.ModelProto) error {
	rows, shapes, err := describe(m)
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	head := layerRow{name: "Layer (op)", shape: "Output shape"}
	nameW, shapeW, paramW, macW := len(head.name), len(head.shape), len("Param #"), len("Mult-adds")
	for _, r := range rows {
		nameW = max(nameW, len(r.name)+len(r.op)+3)
		shapeW = max(shapeW, len(r.shape))
		paramW = max(paramW, len(thousands(r.params)))
		macW = max(macW, len(thousands(r.macs)))
	}
	width := nameW + shapeW + paramW + macW + 6
	bw := bufio.NewWriter(w)
	g := m.GetGraph()
	fmt.Fprintf(bw, "Model: %q\n", g.GetName())
	for _, in := range GraphInputs(g) {
		s := "?"
		if d, ok := shapes[in.GetName()]; ok {
			s = formatShape(d)
		}
		fmt.Fprintf(bw, "Input: %s %s\n", in.GetName(), s)
	}
	rule := strings.Repeat("─", width)
	fmt.Fprintln(bw, rule)
	fmt.Fprintf(bw, "%-*s  %-*s  %*s  %*s\n", nameW, head.name, shapeW, head.shape, paramW, "Param #", macW, "Mult-adds")
	fmt.Fprintln(bw, strings.Repeat("═", width))
	var params, total int64
	for _, r := range rows {
		fmt.Fprintf(bw, "%-*s  %-*s  %*s  %*s\n", nameW, r.name+" ("+r.op+")", shapeW, r.shape,
			paramW, thousands(r.params), macW, thousands(r.macs))
		total = satAdd(total, r.macs)
	}
	for _, t := range g.GetInitializer() {
		params = satAdd(params, numel(t.GetDims()))
	}
	fmt.Fprintln(bw, strings.Repeat("═", width))
	fmt.Fprintf(bw, "Total params: %s (%s as float32)\n", thousands(params), humanBytes(params*4))
	fmt.Fprintf(bw, "Multiply-adds per image: %s (%s)\n", thousands(total), flops(2*total))
	for _, o := range g.GetOutput() {
		s := "?"
		if d, ok := shapes[o.GetName()]; ok {
			s = formatShape(d)
		}
		fmt.Fprintf(bw, "Output: %s %s\n", o.GetName(), s)
	}
	fmt.Fprintln(bw, rule)
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	return nil
}

func flops(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.2f GFLOPs", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.2f MFLOPs", float64(n)/1e6)
	}
	return thousands(n) + " FLOPs"
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// Dot writes m as a Graphviz digraph, in the manner of Keras' plot_model
// with show_shapes: one box per node with its name, operator and output
// shape, inputs and outputs as ovals. Render it with `dot -Tsvg`.
func Dot(w io.Writer, m *onnxpb.ModelProto) error {
	rows, shapes, err := describe(m)
	if err != nil {
		return fmt.Errorf("dot: %w", err)
	}
	g := m.GetGraph()
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "digraph %s {\n", dotQuote(dotEscape(g.GetName(), false)))
	fmt.Fprintln(bw, "  rankdir=TB;")
	fmt.Fprintln(bw, `  node [shape=record, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica", fontsize=10];`)
	fmt.Fprintln(bw, `  edge [arrowsize=0.7];`)
	producer := map[string]string{}
	for i, in := range GraphInputs(g) {
		id := fmt.Sprintf("in%d", i)
		producer[in.GetName()] = id
		s := "?"
		if d, ok := shapes[in.GetName()]; ok {
			s = formatShape(d)
		}
		fmt.Fprintf(bw, "  %s [shape=oval, fillcolor=\"#d8ead3\", label=%s];\n", id, dotQuote(dotEscape(in.GetName(), false)+`\n`+s))
	}
	for i, n := range g.GetNode() {
		id := fmt.Sprintf("n%d", i)
		r := rows[i]
		label := "{" + dotEscape(r.name, true) + "|" + dotEscape(r.op, true) + "|" + r.shape + "}"
		fmt.Fprintf(bw, "  %s [label=%s];\n", id, dotQuote(label))
		seen := map[string]bool{}
		for _, in := range n.GetInput() {
			if p, ok := producer[in]; ok && !seen[p] {
				seen[p] = true
				fmt.Fprintf(bw, "  %s -> %s;\n", p, id)
			}
		}
		for _, out := range n.GetOutput() {
			producer[out] = id
		}
	}
	for i, o := range g.GetOutput() {
		id := fmt.Sprintf("out%d", i)
		fmt.Fprintf(bw, "  %s [shape=oval, fillcolor=\"#fbe5d6\", label=%s];\n", id, dotQuote(o.GetName()))
		if p, ok := producer[o.GetName()]; ok {
			fmt.Fprintf(bw, "  %s -> %s;\n", p, id)
		}
	}
	fmt.Fprintln(bw, "}")
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("dot: %w", err)
	}
	return nil
}

// dotQuote makes s, already escaped with dotEscape, a Graphviz string.
func dotQuote(s string) string { return `"` + s + `"` }

// dotEscape protects the characters that Graphviz reads in a label: the
// backslash and the quote always, and in a record label also the
// characters that give a record its structure.
func dotEscape(s string, record bool) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c == '\\' || c == '"' || record && strings.ContainsRune("{}|<>", c):
			b.WriteByte('\\')
		case c == '\n' || c == '\r':
			c = ' '
		}
		b.WriteRune(c)
	}
	return b.String()
}
