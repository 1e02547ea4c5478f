package extractor

import (
	"bufio"
	"io"
	"os"
	"slices"
	"strings"
)

// int8Flags are the /proc/cpuinfo flags of the instructions that make
// ONNX Runtime's and oneDNN's integer convolutions fast, best first: AMX
// tiles, then the 512- and 256-bit dot-product (VNNI) forms. Without one
// of them an int8 network runs at about fp32 speed (issue 15), so it is
// not worth its small loss of agreement; and oneDNN's int8 kernels then
// multiply into saturating 16-bit pairs, which can clip.
var int8Flags = []string{"amx_int8", "avx512_vnni", "avx_vnni"}

// Int8Features returns the int8 instructions that the CPU described by
// cpuinfo (the text of /proc/cpuinfo) offers, in the order of int8Flags;
// none when it has none or the text has no flags line. Only the first
// processor's flags are read: the kernel lists the same set for each.
func Int8Features(cpuinfo string) []string {
	_, flags := readCPUInfo(strings.NewReader(cpuinfo))
	var out []string
	for _, f := range int8Flags {
		if slices.Contains(flags, f) {
			out = append(out, f)
		}
	}
	return out
}

// readCPUInfo returns the first processor's model name and instruction
// set flags ("flags" on x86, "Features" on ARM) from r in /proc/cpuinfo
// format; flags is nil when r has no such line.
func readCPUInfo(r io.Reader) (name string, flags []string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "model name" && name == "":
			name = v
		case (k == "flags" || k == "Features") && flags == nil:
			flags = append([]string{}, strings.Fields(v)...)
		}
		if name != "" && flags != nil {
			break
		}
	}
	return name, flags
}

// CPUInt8Features returns Int8Features of this machine's /proc/cpuinfo;
// none where that file cannot be read (another OS): int8 is then not
// assumed to be fast.
func CPUInt8Features() []string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return nil
	}
	return Int8Features(string(b))
}
