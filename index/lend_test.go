package index_test

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"

	"github.com/simsearch/simsearch/index"
	"github.com/simsearch/simsearch/index/indextest"
)

// lendingReader lends its bytes in place, in pieces of random size, as
// the store's snapshot reader does at chunk boundaries. Read must not be
// used when Next is there.
type lendingReader struct {
	t     *testing.T
	b     []byte
	rng   *rand.Rand
	max   int // largest piece
	calls int
}

func (l *lendingReader) Next(n int) ([]byte, error) {
	l.calls++
	if len(l.b) == 0 {
		return nil, io.EOF
	}
	k := min(n, len(l.b), 1+l.rng.IntN(l.max))
	p := l.b[:k:k]
	l.b = l.b[k:]
	return p, nil
}

func (l *lendingReader) Read([]byte) (int, error) {
	l.t.Error("Read called on a reader that lends")
	return 0, errors.New("read instead of next")
}

func (l *lendingReader) Len() int { return len(l.b) }

// An index decoded from lent pieces, from a stream of unknown length and
// from a bytes.Reader is the same index: saving each gives the same bytes.
// Dims 3 and 257 nodes leave tails that are not a multiple of four.
func TestIndex_LoadFromEveryKindOfReader(t *testing.T) {
	data := indextest.Clustered(300, 3, 5)
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(3)
		fill(t, idx, data[:257], 1)
		idx.Delete(9)
		var buf bytes.Buffer
		if err := idx.Save(&buf); err != nil {
			t.Fatal(err)
		}
		saved := buf.Bytes()
		for _, piece := range []int{1, 7, 100, 1 << 20} {
			l := &lendingReader{t: t, b: saved, rng: rand.New(rand.NewPCG(uint64(piece), 1)), max: piece}
			sources := map[string]io.Reader{
				"lent":           l,
				"unknown length": iotest.HalfReader(bytes.NewReader(saved)),
				"bytes.Reader":   bytes.NewReader(saved),
			}
			for name, r := range sources {
				got := newIndex(3)
				if err := got.Load(r); err != nil {
					t.Fatalf("%s (pieces ≤ %d): %v", name, piece, err)
				}
				var again bytes.Buffer
				if err := got.Save(&again); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again.Bytes(), saved) {
					t.Errorf("%s (pieces ≤ %d): loaded index saves other bytes", name, piece)
				}
				for _, q := range data[257:260] {
					if want, hits := search(t, idx, q, 5, 0), search(t, got, q, 5, 0); !equalHits(want, hits) {
						t.Errorf("%s: search after load = %v, want %v", name, hits, want)
					}
				}
			}
			if l.calls == 0 {
				t.Error("Load did not use Next")
			}
		}
	})
}

func equalHits(a, b []index.Hit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A lender that ends early, damages a byte, fails or stops making progress
// gives a clean error and leaves the index as it was.
func TestIndex_LoadFromLenderRejectsDamage(t *testing.T) {
	data := indextest.Clustered(60, 8, 17)
	sentinel := errors.New("chunk out of sequence")
	forEach(t, func(t *testing.T, newIndex func(int) index.Index) {
		idx := newIndex(8)
		fill(t, idx, data[:50], 0)
		var buf bytes.Buffer
		if err := idx.Save(&buf); err != nil {
			t.Fatal(err)
		}
		good := buf.Bytes()
		cases := []struct {
			name string
			r    io.Reader
			want error
		}{
			{"truncated", &lendingReader{t: t, b: good[:len(good)/2], max: 64}, index.ErrCorrupt},
			{"no checksum", &lendingReader{t: t, b: good[:len(good)-4], max: 64}, index.ErrCorrupt},
			{"bit flip", &lendingReader{t: t, b: flip(good, len(good)/3), max: 64}, index.ErrCorrupt},
			{"reader error", &errLender{b: good[:len(good)/2], err: sentinel}, sentinel},
			{"no progress", stuckLender{}, io.ErrNoProgress},
		}
		for _, c := range cases {
			if l, ok := c.r.(*lendingReader); ok {
				l.rng = rand.New(rand.NewPCG(2, 3))
			}
			target := newIndex(8)
			fill(t, target, data[50:53], 100)
			err := target.Load(c.r)
			if !errors.Is(err, c.want) {
				t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
			}
			if target.Len() != 3 {
				t.Errorf("%s: failed Load changed the index (Len %d, want 3)", c.name, target.Len())
			}
		}
	})
}

// errLender lends b in pieces of 16 bytes, then fails with err. It has no
// Len, so the decoder reads until the error.
type errLender struct {
	b   []byte
	err error
}

func (l *errLender) Next(n int) ([]byte, error) {
	if len(l.b) == 0 {
		return nil, l.err
	}
	k := min(n, len(l.b), 16)
	p := l.b[:k]
	l.b = l.b[k:]
	return p, nil
}

func (l *errLender) Read([]byte) (int, error) { return 0, errors.New("read instead of next") }

// stuckLender lends nothing, without an error, forever.
type stuckLender struct{}

func (stuckLender) Next(n int) ([]byte, error) { return nil, nil }
func (stuckLender) Read([]byte) (int, error)   { return 0, errors.New("read instead of next") }
