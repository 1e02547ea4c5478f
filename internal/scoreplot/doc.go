// Package scoreplot draws the score distributions of true pairs and
// other pairs from an evaluate.Histogram, with thresholds marked, as an
// SVG or PNG image (gonum.org/v1/plot). Each distribution is shown as
// its share of pairs per bin, so a few dozen true pairs stay visible
// beside thousands of others.
//
// Example: the plot of a report with its best threshold and a model's
// default.
//
//	err := scoreplot.Write(w, "png", scoreplot.Plot{
//		Title:     "pair scores, vgg16/rmac",
//		Histogram: r.Histogram,
//		Marks:     []scoreplot.Mark{{Label: "best F1", Threshold: r.Best.Threshold}},
//	})
package scoreplot
