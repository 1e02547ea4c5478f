package main

import (
	"bufio"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine is what the figures depend on.
type Machine struct {
	Hostname   string   `json:"hostname"`
	CPUModel   string   `json:"cpu_model"`
	CPUFlags   []string `json:"cpu_flags"` // the ones that matter to ONNX Runtime and vek, present
	Cores      int      `json:"cores"`     // runtime.NumCPU: what Go and ONNX Runtime may use
	CPUMax     string   `json:"cgroup_cpu_max,omitempty"`
	MemTotal   int64    `json:"mem_total_bytes"`
	Kernel     string   `json:"kernel"`
	GoVersion  string   `json:"go_version"`
	GOARCH     string   `json:"goarch"`
	ORTVersion string   `json:"onnxruntime_version"`
	ORTLibrary string   `json:"onnxruntime_library,omitempty"`
	LoadStart  string   `json:"load_start"` // 1, 5 and 15 minute load averages
	LoadEnd    string   `json:"load_end"`
}

// interestingFlags are the CPU features that decide which kernels ONNX
// Runtime and the SIMD dot product can use.
var interestingFlags = []string{
	"sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni",
	"avx512f", "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16", "avx512_fp16",
	"amx_tile", "amx_bf16", "amx_int8", "sha_ni",
}

func readMachine() Machine {
	m := Machine{
		Cores:     runtime.NumCPU(),
		GoVersion: runtime.Version(),
		GOARCH:    runtime.GOARCH,
		LoadStart: loadAverage(),
	}
	m.Hostname, _ = os.Hostname()
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		m.CPUModel, m.CPUFlags = parseCPUInfo(f)
		f.Close()
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		m.MemTotal = parseMemTotal(string(b))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if b, err := os.ReadFile("/sys/fs/cgroup/cpu.max"); err == nil {
		m.CPUMax = strings.TrimSpace(string(b))
	}
	return m
}

// parseCPUInfo returns the first processor's model name and which of
// interestingFlags it has, in that list's order.
func parseCPUInfo(r io.Reader) (model string, flags []string) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var have map[string]bool
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		switch {
		case k == "model name" && model == "":
			model = v
		case k == "flags" && have == nil:
			have = map[string]bool{}
			for _, f := range strings.Fields(v) {
				have[f] = true
			}
		}
		if model != "" && have != nil {
			break
		}
	}
	for _, f := range interestingFlags {
		if have[f] {
			flags = append(flags, f)
		}
	}
	return model, flags
}

func parseMemTotal(meminfo string) int64 {
	for _, line := range strings.Split(meminfo, "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) >= 1 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err == nil {
					return kb * 1024
				}
			}
		}
	}
	return 0
}

// loadAverage is the 1, 5 and 15 minute load averages, as /proc/loadavg
// has them.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

// load1 is the one-minute load average in s, or -1.
func load1(s string) float64 {
	f := strings.Fields(s)
	if len(f) == 0 {
		return -1
	}
	v, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return -1
	}
	return v
}
