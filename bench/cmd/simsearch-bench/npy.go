package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"strings"
)

// writeNpy writes a 2-D array in NumPy's .npy format (version 1.0):
// magic, a padded Python-dict header, then the values little-endian.
func writeNpy(path, descr string, rows, cols int, put func(w *bufio.Writer)) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	header := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d), }", descr, rows, cols)
	// magic (6) + version (2) + length (2) + header + '\n' is a multiple of 64.
	pad := 64 - (10+len(header)+1)%64
	header += strings.Repeat(" ", pad%64) + "\n"
	w.WriteString("\x93NUMPY\x01\x00")
	binary.Write(w, binary.LittleEndian, uint16(len(header)))
	w.WriteString(header)
	put(w)
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeNpyFloat32(path string, m [][]float32) error {
	cols := 0
	if len(m) > 0 {
		cols = len(m[0])
	}
	return writeNpy(path, "<f4", len(m), cols, func(w *bufio.Writer) {
		var b [4]byte
		for _, row := range m {
			for _, v := range row {
				binary.LittleEndian.PutUint32(b[:], math.Float32bits(v))
				w.Write(b[:])
			}
		}
	})
}

func writeNpyInt32(path string, m [][]int32) error {
	cols := 0
	if len(m) > 0 {
		cols = len(m[0])
	}
	return writeNpy(path, "<i4", len(m), cols, func(w *bufio.Writer) {
		var b [4]byte
		for _, row := range m {
			for _, v := range row {
				binary.LittleEndian.PutUint32(b[:], uint32(v))
				w.Write(b[:])
			}
		}
	})
}
