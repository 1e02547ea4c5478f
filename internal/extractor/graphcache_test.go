package extractor

import (
	"runtime"
	"strings"
	"testing"
)

func TestCPUIdentity(t *testing.T) {
	const info = `processor	: 0
vendor_id	: GenuineIntel
model name	: Intel(R) Xeon(R) Processor
flags		: fpu sse2 avx2 avx512f avx512_vnni amx_tile amx_int8 sse4_2 avx512bw
processor	: 1
model name	: Other
flags		: fpu
`
	want := runtime.GOARCH + "/Intel(R) Xeon(R) Processor [amx_int8 amx_tile avx2 avx512_vnni avx512bw avx512f]"
	if got := cpuIdentity(strings.NewReader(info)); got != want {
		t.Fatalf("cpuIdentity = %q, want %q", got, want)
	}
	if got := cpuIdentity(strings.NewReader("nothing here\n")); got != "" {
		t.Fatalf("cpuIdentity of no CPU lines = %q, want empty", got)
	}
}
