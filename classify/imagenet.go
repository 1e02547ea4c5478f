package classify

import (
	_ "embed"
	"fmt"
	"strings"
)

// imagenetList is the ILSVRC-2012 class list in classifier order: line i
// (0-based) is output i, a WordNet id, a space, then the comma-separated
// names. It is the ONNX model zoo's validated/vision/classification/
// synset.txt (Apache License 2.0, © the ONNX Project Contributors; see
// README.md in this folder), sha256
// acf75ef0abe89694b19056e0796401068b459c457baa30335f240c7692857355.
//
//go:embed imagenet.txt
var imagenetList string

// ImageNetClasses is the number of ImageNet classes.
const ImageNetClasses = 1000

// ImageNet returns the 1,000 ImageNet classes in the order of the outputs
// of the ONNX model zoo's and Keras' VGG16 and VGG19 classifiers (what
// Keras' decode_predictions uses): ID is the WordNet id, Name the first of
// the class's names (ImageNetNames has them all). Each call returns a new
// slice.
func ImageNet() []Class {
	out := make([]Class, 0, ImageNetClasses)
	for _, l := range imagenetLines() {
		id, names := parseSynset(l)
		out = append(out, Class{ID: id, Name: names[0]})
	}
	return out
}

// ImageNetNames returns every name of each ImageNet class, in the order
// of ImageNet: "tiger", "Panthera tigris" for n02129604.
func ImageNetNames() [][]string {
	out := make([][]string, 0, ImageNetClasses)
	for _, l := range imagenetLines() {
		_, names := parseSynset(l)
		out = append(out, names)
	}
	return out
}

// FindImageNet returns the indexes of the ImageNet classes that s names:
// a WordNet id, or one of a class's names as a whole (not a part of one),
// ignoring case and surrounding space. "tiger" is class 292 only, not
// "tiger shark" or "tiger cat"; "crane" is two classes (the bird and the
// machine). It returns nil when no class matches.
func FindImageNet(s string) []int {
	s = strings.TrimSpace(s)
	var out []int
	for i, l := range imagenetLines() {
		id, names := parseSynset(l)
		if strings.EqualFold(id, s) {
			out = append(out, i)
			continue
		}
		for _, n := range names {
			if strings.EqualFold(n, s) {
				out = append(out, i)
				break
			}
		}
	}
	return out
}

func imagenetLines() []string {
	lines := strings.Split(strings.TrimRight(imagenetList, "\n"), "\n")
	if len(lines) != ImageNetClasses {
		// The file is embedded and its hash tested: this is a build
		// that was tampered with, not a user's mistake.
		panic(fmt.Sprintf("classify: embedded ImageNet list has %d lines, want %d", len(lines), ImageNetClasses))
	}
	return lines
}

// parseSynset splits "n02129604 tiger, Panthera tigris".
func parseSynset(l string) (id string, names []string) {
	id, rest, _ := strings.Cut(strings.TrimSpace(l), " ")
	for _, n := range strings.Split(rest, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		names = []string{id}
	}
	return id, names
}
