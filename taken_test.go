package simsearch

import (
	"testing"
	"time"
)

// TakenMatcher keeps capture times in [after, before), either bound
// optional, and never an item without a capture time.
func TestTakenMatcher(t *testing.T) {
	day := func(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }
	at := func(tm time.Time) Item { return Item{Taken: tm.UnixNano()} }
	tests := []struct {
		name          string
		after, before time.Time
		item          Item
		want          bool
	}{
		{"after, later", day(2024, 5, 1), time.Time{}, at(day(2024, 6, 1)), true},
		{"after, at the bound", day(2024, 5, 1), time.Time{}, at(day(2024, 5, 1)), true},
		{"after, earlier", day(2024, 5, 1), time.Time{}, at(day(2024, 4, 30)), false},
		{"before, earlier", time.Time{}, day(2024, 5, 1), at(day(2024, 4, 30)), true},
		{"before, at the bound", time.Time{}, day(2024, 5, 1), at(day(2024, 5, 1)), false},
		{"both, inside", day(2024, 5, 1), day(2024, 5, 2), at(day(2024, 5, 1).Add(time.Hour)), true},
		{"both, after the range", day(2024, 5, 1), day(2024, 5, 2), at(day(2024, 5, 3)), false},
		{"no capture time", day(1900, 1, 1), time.Time{}, Item{}, false},
		{"no capture time, before", time.Time{}, day(2200, 1, 1), Item{}, false},
		{"before 1970", time.Time{}, day(1970, 1, 1), at(day(1969, 7, 20)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := TakenMatcher(tt.after, tt.before)(tt.item); got != tt.want {
				t.Errorf("TakenMatcher(%v, %v)(%v) = %t, want %t", tt.after, tt.before, time.Unix(0, tt.item.Taken).UTC(), got, tt.want)
			}
		})
	}
}
