package store

import "testing"

// BenchmarkItemCodec encodes and decodes one item record as Put and
// ForEachItem do, with a typical photo path.
func BenchmarkItemCodec(b *testing.B) {
	it := testItem(12345)
	it.Path = "/home/someone/Pictures/2024/07/holiday in the hills/IMG_20240712_184512.jpg"
	enc := appendItem(nil, it)
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, 256)
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			buf = appendItem(buf[:0], it)
		}
	})
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			if _, err := decodeItem(enc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkVectorCodec encodes and decodes one 512-d vector record, as
// Put and ForEachVector (index rebuilds) do.
func BenchmarkVectorCodec(b *testing.B) {
	v := testVector(7, 512)
	enc := appendVector(nil, v)
	b.Run("encode", func(b *testing.B) {
		buf := make([]byte, 0, len(enc))
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			buf = appendVector(buf[:0], v)
		}
	})
	b.Run("decode", func(b *testing.B) {
		dst := make([]float32, len(v))
		b.SetBytes(int64(len(enc)))
		for b.Loop() {
			decodeVector(dst, enc)
		}
	})
}
