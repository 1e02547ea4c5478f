package extractor

import (
	"bufio"
	"os"
	"strings"
)

// int8Flags are the /proc/cpuinfo flags of the instructions that make
// ONNX Runtime's integer convolutions fast, best first: AMX tiles, then
// the 512- and 256-bit dot-product (VNNI) forms. Without one of them an
// int8 network runs at about fp32 speed (issue 15), so it is not worth
// its small loss of agreement.
var int8Flags = []string{"amx_int8", "avx512_vnni", "avx_vnni"}

// Int8Features returns the int8 instructions that the CPU described by
// cpuinfo (the text of /proc/cpuinfo) offers, in the order of int8Flags;
// none when it has none or the text has no flags line. Only the first
// processor's flags are read: the kernel lists the same set for each.
func Int8Features(cpuinfo string) []string {
	sc := bufio.NewScanner(strings.NewReader(cpuinfo))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(key) != "flags" {
			continue
		}
		have := map[string]bool{}
		for _, f := range strings.Fields(val) {
			have[f] = true
		}
		var out []string
		for _, f := range int8Flags {
			if have[f] {
				out = append(out, f)
			}
		}
		return out
	}
	return nil
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
