package extractor

import (
	"slices"
	"testing"
)

func TestInt8Features(t *testing.T) {
	const head = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R)\n"
	tests := []struct {
		name    string
		cpuinfo string
		want    []string
	}{
		{"sapphire rapids", head + "flags\t\t: fpu sse2 avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8 arch_lbr\n", []string{"amx_int8", "avx512_vnni"}},
		{"cascade lake", head + "flags\t\t: fpu avx2 avx512f avx512_vnni\nbugs\t\t: spectre_v1\n", []string{"avx512_vnni"}},
		{"alder lake", head + "flags\t\t: fpu avx2 avx_vnni\n", []string{"avx_vnni"}},
		{"skylake", head + "flags\t\t: fpu avx2 avx512f avx512bw avx512vl\n", nil},
		// amx_bf16 alone speeds up bfloat16, not int8.
		{"amx without int8", head + "flags\t\t: avx2 amx_bf16 amx_tile\n", nil},
		// A flag name is matched whole, not as a prefix or suffix.
		{"similar names", head + "flags\t\t: avx512_vnnix xavx_vnni amx_int8_\n", nil},
		{"no flags line", head, nil},
		{"arm", "processor\t: 0\nFeatures\t: fp asimd asimddp\n", nil},
		{"empty", "", nil},
		// Only the first processor counts.
		{"two processors", head + "flags\t: avx512_vnni\n\nprocessor\t: 1\nflags\t: amx_int8 avx512_vnni\n", []string{"avx512_vnni"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Int8Features(tt.cpuinfo); !slices.Equal(got, tt.want) {
				t.Errorf("Int8Features = %q, want %q", got, tt.want)
			}
		})
	}
}
