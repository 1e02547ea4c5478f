package classify

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// blobs makes nc well-separated classes of n unit vectors each in dim
// dimensions: a random centre per class plus noise of scale noise.
func blobs(nc, n, dim int, noise float64, seed uint64) ([]Sample, []Class) {
	rng := rand.New(rand.NewPCG(seed, 1))
	classes := make([]Class, nc)
	var samples []Sample
	for c := range nc {
		classes[c] = Class{ID: fmt.Sprintf("c%d", c), Name: fmt.Sprintf("class %d", c)}
		centre := make([]float64, dim)
		for j := range centre {
			centre[j] = rng.NormFloat64()
		}
		for range n {
			v := make([]float32, dim)
			var norm float64
			for j := range v {
				x := centre[j] + noise*rng.NormFloat64()
				v[j] = float32(x)
				norm += x * x
			}
			for j := range v {
				v[j] /= float32(math.Sqrt(norm))
			}
			samples = append(samples, Sample{Vector: v, Class: c})
		}
	}
	// Interleave classes so that nothing depends on their order.
	rng.Shuffle(len(samples), func(a, b int) { samples[a], samples[b] = samples[b], samples[a] })
	return samples, classes
}

// On separable classes the optimiser reaches accuracy 1 on what it was
// trained on and on what it was not, and converges rather than running
// out of iterations.
func TestTrain_Separable(t *testing.T) {
	samples, classes := blobs(5, 20, 32, 0.3, 7)
	h, rep, err := Train(samples, classes, &TrainOptions{NoHoldout: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.TrainAcc != 1 || rep.Held != 0 || rep.Accuracy != nil {
		t.Errorf("no holdout: train accuracy %v, %d held out, accuracy %v; want 1, 0, nil", rep.TrainAcc, rep.Held, rep.Accuracy)
	}
	if rep.Fit.Iterations >= 500 || rep.Fit.Loss <= 0 || math.IsNaN(rep.Fit.Loss) {
		t.Errorf("fit: %+v", rep.Fit)
	}
	if err := h.Check(); err != nil {
		t.Fatal(err)
	}
	for i, s := range samples {
		if c, p := h.best(s.Vector); c != s.Class || p < 0.5 {
			t.Fatalf("sample %d of class %d: predicted %d with p %.3f", i, s.Class, c, p)
		}
	}

	h2, rep, err := Train(samples, classes, &TrainOptions{Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Held != 20 || rep.Train != 80 || rep.Accuracy == nil || *rep.Accuracy != 1 || rep.Correct != 20 || len(rep.Misses) != 0 {
		t.Errorf("20%% held out: %d/%d held/train, accuracy %v, misses %v; want 20/80, 1, none", rep.Held, rep.Train, rep.Accuracy, rep.Misses)
	}
	for c, row := range rep.Confusion {
		for p, n := range row {
			if want := map[bool]int{true: 4, false: 0}[c == p]; n != want {
				t.Errorf("confusion[%d][%d] = %d, want %d", c, p, n, want)
			}
		}
	}
	if slices.Equal(h.W, h2.W) {
		t.Error("the head trained on 80% has the weights of the one trained on all")
	}
}

// The held-out accuracy counts what the head gets wrong: classes that
// overlap are confused, and the confusion matrix and misses say which.
func TestTrain_OverlapIsMeasured(t *testing.T) {
	samples, classes := blobs(3, 30, 8, 3, 11)
	_, rep, err := Train(samples, classes, &TrainOptions{Seed: 1, Holdout: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Accuracy == nil || *rep.Accuracy >= 1 || *rep.Accuracy <= 1.0/3 {
		t.Fatalf("accuracy on overlapping classes %v, want between chance and 1", rep.Accuracy)
	}
	diag, all := 0, 0
	for c, row := range rep.Confusion {
		for p, n := range row {
			all += n
			if c == p {
				diag += n
			}
		}
	}
	if all != rep.Held || diag != rep.Correct || len(rep.Misses) != rep.Held-rep.Correct {
		t.Errorf("confusion sums to %d (diagonal %d), misses %d; held %d, correct %d", all, diag, len(rep.Misses), rep.Held, rep.Correct)
	}
	for _, m := range rep.Misses {
		if samples[m.Sample].Class != m.Class || m.Predicted == m.Class {
			t.Errorf("miss %+v is not a miss", m)
		}
	}
}

// The analytic gradient agrees with central finite differences of the
// objective, with and without weight decay.
func TestObjective_GradientMatchesFiniteDifferences(t *testing.T) {
	samples, _ := blobs(4, 5, 6, 0.5, 2)
	const nc, dim = 4, 6
	rng := rand.New(rand.NewPCG(5, 5))
	for _, l2 := range []float64{0, 0.1} {
		o := newObjective(samples, nc, dim, l2)
		w := make([]float64, nc*(dim+1))
		for i := range w {
			w[i] = rng.NormFloat64()
		}
		grad := make([]float64, len(w))
		o.gradient(grad, w)
		const h = 1e-6
		for i := range w {
			wp, wm := slices.Clone(w), slices.Clone(w)
			wp[i] += h
			wm[i] -= h
			num := (o.value(wp) - o.value(wm)) / (2 * h)
			if math.Abs(num-grad[i]) > 1e-6*max(1, math.Abs(num)) {
				t.Errorf("λ=%v: ∂f/∂w[%d] = %.9f analytic, %.9f numeric", l2, i, grad[i], num)
			}
		}
		// The cached gradient is the one of the point asked for, not of
		// the last value computed.
		o.value(make([]float64, len(w)))
		g2 := make([]float64, len(w))
		o.gradient(g2, w)
		if !slices.Equal(grad, g2) {
			t.Errorf("λ=%v: gradient at w changed after a value elsewhere", l2)
		}
	}
}

// Weight decay shrinks the weights, and the same seed gives the same head
// (with enough samples that the matrix products run in parallel).
func TestTrain_L2AndSeed(t *testing.T) {
	samples, classes := blobs(3, 100, 16, 0.3, 4)
	norm := func(l2 float64) float64 {
		h, _, err := Train(samples, classes, &TrainOptions{NoHoldout: true, L2: l2})
		if err != nil {
			t.Fatal(err)
		}
		var s float64
		for _, v := range h.W {
			s += float64(v) * float64(v)
		}
		return math.Sqrt(s)
	}
	if weak, strong := norm(1e-4), norm(1e-1); strong >= weak/2 {
		t.Errorf("‖W‖ = %.3f at λ=1e-1, %.3f at λ=1e-4: decay does not shrink the weights", strong, weak)
	}
	a, ra, _ := Train(samples, classes, &TrainOptions{Seed: 9})
	b, rb, _ := Train(samples, classes, &TrainOptions{Seed: 9})
	if !slices.Equal(a.W, b.W) || !slices.Equal(a.B, b.B) || ra.Fit != rb.Fit {
		t.Error("two runs with one seed gave different heads")
	}
}

func TestSplit_Stratified(t *testing.T) {
	// Classes of 10, 5, 3, 2 and 1 samples.
	var samples []Sample
	for c, n := range []int{10, 5, 3, 2, 1} {
		for range n {
			samples = append(samples, Sample{Class: c})
		}
	}
	train, held := Split(samples, 5, 0.2, 1)
	count := func(idx []int) []int {
		n := make([]int, 5)
		for _, i := range idx {
			n[samples[i].Class]++
		}
		return n
	}
	if got, want := count(held), []int{2, 1, 1, 0, 0}; !slices.Equal(got, want) {
		t.Errorf("held out per class %v, want %v", got, want)
	}
	if got, want := count(train), []int{8, 4, 2, 2, 1}; !slices.Equal(got, want) {
		t.Errorf("trained on per class %v, want %v", got, want)
	}
	all := slices.Concat(train, held)
	slices.Sort(all)
	for i, v := range all {
		if v != i {
			t.Fatalf("train and held-out do not partition the samples: %v %v", train, held)
		}
	}
	// Most of a class held out still leaves one to train on.
	_, held = Split(samples, 5, 0.99, 1)
	if got, want := count(held), []int{9, 4, 2, 1, 0}; !slices.Equal(got, want) {
		t.Errorf("99%% held out per class %v, want %v", got, want)
	}
	t2, _ := Split(samples, 5, 0.2, 1)
	t3, _ := Split(samples, 5, 0.2, 2)
	if !slices.Equal(t2, train) {
		t.Error("one seed, two splits")
	}
	if slices.Equal(t2, t3) {
		t.Error("seeds 1 and 2 hold out the same samples")
	}
}

func TestTrain_BadInput(t *testing.T) {
	samples, classes := blobs(2, 4, 3, 0.1, 1)
	for _, tc := range []struct {
		name    string
		samples []Sample
		classes []Class
		opts    *TrainOptions
	}{
		{"one class", samples[:1], classes[:1], nil},
		{"no samples", nil, classes, nil},
		{"class without samples", []Sample{{Vector: []float32{1, 0}, Class: 0}}, classes, nil},
		{"class out of range", append(slices.Clone(samples), Sample{Vector: []float32{1, 0, 0}, Class: 2}), classes, nil},
		{"dimensions differ", append(slices.Clone(samples), Sample{Vector: []float32{1, 0}, Class: 1}), classes, nil},
	} {
		_, _, err := Train(tc.samples, tc.classes, tc.opts)
		if !errors.Is(err, ErrSamples) {
			t.Errorf("%s: %v, want ErrSamples", tc.name, err)
		}
	}
	if _, _, err := Train(samples, classes, &TrainOptions{Holdout: 1}); err == nil {
		t.Error("everything held out: no error")
	}
}

// BenchmarkTrain fits heads of the size of a photo collection's classes:
// 512-d embeddings, 20% held out.
func BenchmarkTrain(b *testing.B) {
	for _, size := range []struct{ classes, per int }{{10, 20}, {100, 50}} {
		samples, classes := blobs(size.classes, size.per, 512, 1, 1)
		b.Run(fmt.Sprintf("%dx%d", size.classes, size.per), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := Train(samples, classes, &TrainOptions{Seed: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func ExampleTrain() {
	// Embeddings of two classes: photos of cats point one way, of dogs
	// another.
	classes := []Class{{ID: "cats", Name: "cats"}, {ID: "dogs", Name: "dogs"}}
	samples := []Sample{
		{Vector: []float32{0.99, 0.14}, Class: 0}, {Vector: []float32{0.95, 0.31}, Class: 0},
		{Vector: []float32{0.20, 0.98}, Class: 1}, {Vector: []float32{0.05, 1.00}, Class: 1},
	}
	head, rep, err := Train(samples, classes, &TrainOptions{NoHoldout: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := head.Predict([]float32{0.9, 0.44})
	fmt.Println(Top(p, head.Classes, 1)[0].Name, rep.TrainAcc)
	// Output: cats 1
}
