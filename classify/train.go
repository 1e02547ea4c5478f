package classify

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/blas64"
	"gonum.org/v1/gonum/optimize"
)

// Sample is one labelled embedding: Class indexes the class list.
type Sample struct {
	Vector []float32
	Class  int
}

// TrainOptions configure Train. The zero value (or nil) means the
// defaults.
type TrainOptions struct {
	// Holdout is the fraction of each class's samples held out to measure
	// the head: 0 means DefaultHoldout. It is rounded per class to the
	// nearest count, and a class always keeps one sample to train on, so
	// a class of one (or, at 20%, two) samples has none held out.
	Holdout float64
	// NoHoldout trains on every sample and measures nothing.
	NoHoldout bool
	// L2 is the weight decay λ: the loss is the mean cross-entropy plus
	// λ/2·‖W‖² (biases are not decayed). 0 means DefaultL2; a negative
	// value means none.
	L2 float64
	// MaxIterations bounds the L-BFGS iterations; 0 means 500.
	MaxIterations int
	// Seed chooses the held-out samples and the starting weights: the
	// same samples, options and seed give the same head and report.
	Seed uint64
}

// DefaultHoldout is the fraction of each class held out by default.
const DefaultHoldout = 0.2

// DefaultL2 is Train's weight decay when none is given. Embeddings are
// unit vectors, and λ bounds how far the weights grow, so how confident
// the head is on photos it did not see. On 30 sample photos with 5 edited
// copies each (vgg16-random, 20% held out, seeds 1-5) every λ from 1e-5 to
// 1 gets every held-out copy right; the mean probability of the right
// class is 0.99 at 1e-5, 0.97 at 1e-4, 0.80 at 1e-3, 0.23 at 1e-2. 1e-4
// keeps nearly all of that confidence without driving the weights of a
// class of two photos to fit their noise.
const DefaultL2 = 1e-4

// ErrSamples means the samples cannot train a head: fewer than two
// classes with samples, vectors of different lengths, or a class index
// out of range.
var ErrSamples = errors.New("not a usable training set")

// Report is how a head was trained and how well it does on the samples
// it did not see. Confusion counts held-out samples by true class (row)
// and predicted class (column).
type Report struct {
	Classes   []ClassReport `json:"classes"`
	Train     int           `json:"train"`    // samples trained on
	Held      int           `json:"held_out"` // samples held out
	Correct   int           `json:"correct"`  // held-out samples predicted right
	Accuracy  *float64      `json:"accuracy"` // Correct/Held; null when nothing was held out
	TrainAcc  float64       `json:"train_accuracy"`
	Confusion [][]int       `json:"confusion"`
	HeldOut   []int         `json:"held_out_samples,omitempty"` // indices in Train's samples
	Misses    []Miss        `json:"misses,omitempty"`           // the held-out samples predicted wrong
	Fit       Fit           `json:"fit"`
}

// ClassReport is one class's share of a Report.
type ClassReport struct {
	Class
	Train   int `json:"train"`
	Held    int `json:"held_out"`
	Correct int `json:"correct"`
}

// Miss is a held-out sample the head got wrong.
type Miss struct {
	Sample    int     `json:"sample"` // index in Train's samples
	Class     int     `json:"class"`
	Predicted int     `json:"predicted"`
	Prob      float32 `json:"prob"` // the head's probability for Predicted
}

// Fit is what the optimiser did.
type Fit struct {
	L2         float64 `json:"l2"`
	Iterations int     `json:"iterations"`  // L-BFGS major iterations
	Evals      int     `json:"evaluations"` // loss and gradient evaluations
	Loss       float64 `json:"loss"`        // the final objective: mean cross-entropy + λ/2·‖W‖²
	Status     string  `json:"status"`      // why the optimiser stopped, in gonum's words
}

// Train fits a softmax classifier (multinomial logistic regression) for
// classes on samples, holding out a stratified, seeded share of each class
// (see TrainOptions.Holdout), and measures it on them. W and B minimise
// the mean cross-entropy of softmax(W·x + B) over the training samples
// plus λ/2·‖W‖², a smooth convex objective, with gonum's L-BFGS and the
// analytic gradient. The head is the one trained without the held-out
// samples, so the report describes it; it has Classes, Dim, W and B set,
// and the caller records the model it fits.
func Train(samples []Sample, classes []Class, opts *TrainOptions) (*Head, Report, error) {
	var o TrainOptions
	if opts != nil {
		o = *opts
	}
	if o.Holdout == 0 {
		o.Holdout = DefaultHoldout
	}
	var rep Report
	if math.IsNaN(o.Holdout) || o.Holdout < 0 || o.Holdout >= 1 {
		return nil, rep, fmt.Errorf("train: held-out fraction %v, want one in [0, 1)", o.Holdout)
	}
	if err := checkSamples(samples, classes); err != nil {
		return nil, rep, err
	}
	train, held := make([]int, 0, len(samples)), []int(nil)
	if o.NoHoldout {
		for i := range samples {
			train = append(train, i)
		}
	} else {
		train, held = Split(samples, len(classes), o.Holdout, o.Seed)
	}
	ts := make([]Sample, len(train))
	for i, k := range train {
		ts[i] = samples[k]
	}
	h, fit, err := fit(ts, classes, &o)
	if err != nil {
		return nil, rep, err
	}
	rep = Report{Classes: make([]ClassReport, len(classes)), Train: len(train), Held: len(held), HeldOut: held, Fit: fit,
		Confusion: make([][]int, len(classes))}
	for c := range classes {
		rep.Classes[c].Class = classes[c]
		rep.Confusion[c] = make([]int, len(classes))
	}
	right := 0
	for _, s := range ts {
		rep.Classes[s.Class].Train++
		if c, _ := h.best(s.Vector); c == s.Class {
			right++
		}
	}
	rep.TrainAcc = float64(right) / float64(len(ts))
	for _, k := range held {
		s := samples[k]
		c, p := h.best(s.Vector)
		rep.Classes[s.Class].Held++
		rep.Confusion[s.Class][c]++
		if c == s.Class {
			rep.Classes[s.Class].Correct++
			rep.Correct++
		} else {
			rep.Misses = append(rep.Misses, Miss{Sample: k, Class: s.Class, Predicted: c, Prob: p})
		}
	}
	if rep.Held > 0 {
		a := float64(rep.Correct) / float64(rep.Held)
		rep.Accuracy = &a
	}
	return h, rep, nil
}

// best is the most probable class of x and its probability; x has h.Dim
// values.
func (h *Head) best(x []float32) (int, float32) {
	p, _ := h.Predict(x)
	t := Top(p, nil, 1)
	return t[0].Index, t[0].Prob
}

// Split divides the indices of samples into a training and a held-out
// set, stratified: of each class's n samples, round(frac·n) are held out,
// at most n-1, chosen by a shuffle seeded with seed. Both sets are in
// ascending order.
func Split(samples []Sample, nc int, frac float64, seed uint64) (train, held []int) {
	byClass := make([][]int, nc)
	for i, s := range samples {
		byClass[s.Class] = append(byClass[s.Class], i)
	}
	rng := rand.New(rand.NewPCG(seed, 0x686f_6c64))
	for _, idx := range byClass {
		rng.Shuffle(len(idx), func(a, b int) { idx[a], idx[b] = idx[b], idx[a] })
		k := min(int(math.Round(frac*float64(len(idx)))), max(len(idx)-1, 0))
		held = append(held, idx[:k]...)
		train = append(train, idx[k:]...)
	}
	slices.Sort(train)
	slices.Sort(held)
	return train, held
}

// fit minimises the objective on samples (all of them).
func fit(samples []Sample, classes []Class, o *TrainOptions) (*Head, Fit, error) {
	l2, iters := o.L2, o.MaxIterations
	switch {
	case l2 == 0:
		l2 = DefaultL2
	case l2 < 0:
		l2 = 0
	}
	if iters <= 0 {
		iters = 500
	}
	fit := Fit{L2: l2}
	nc, dim := len(classes), len(samples[0].Vector)
	obj := newObjective(samples, nc, dim, l2)

	// The problem is convex, so the start matters little; small random
	// weights seeded by the caller keep the path reproducible.
	rng := rand.New(rand.NewPCG(o.Seed, 0x7472_6169_6e))
	x0 := make([]float64, nc*(dim+1))
	for i := range nc * dim {
		x0[i] = rng.NormFloat64() * 1e-3
	}
	p := optimize.Problem{Func: obj.value, Grad: obj.gradient}
	settings := &optimize.Settings{
		MajorIterations:   iters,
		GradientThreshold: 1e-6,
		Converger:         &optimize.FunctionConverge{Absolute: 1e-10, Relative: 1e-10, Iterations: 20},
	}
	res, err := optimize.Minimize(p, x0, settings, &optimize.LBFGS{})
	if res == nil {
		return nil, fit, fmt.Errorf("train: %w", err)
	}
	// A line search that cannot improve any more stops with an error
	// next to the optimum; the best location found is still good, so only
	// a location that is not finite fails.
	if err != nil && !finite(res.X) {
		return nil, fit, fmt.Errorf("train: %w", err)
	}
	fit.Iterations, fit.Evals, fit.Loss, fit.Status = res.MajorIterations, res.FuncEvaluations, res.F, res.Status.String()
	h := &Head{Version: HeadVersion, Dim: dim, Classes: slices.Clone(classes), W: make([]float32, nc*dim), B: make([]float32, nc)}
	for i := range h.W {
		h.W[i] = float32(res.X[i])
	}
	for c := range h.B {
		h.B[c] = float32(res.X[nc*dim+c])
	}
	return h, fit, nil
}

func checkSamples(samples []Sample, classes []Class) error {
	nc := len(classes)
	if nc < 2 {
		return fmt.Errorf("%w: %d class, a classifier needs at least 2", ErrSamples, nc)
	}
	if len(samples) == 0 || len(samples[0].Vector) == 0 {
		return fmt.Errorf("%w: no samples", ErrSamples)
	}
	dim := len(samples[0].Vector)
	count := make([]int, nc)
	for i, s := range samples {
		if len(s.Vector) != dim {
			return fmt.Errorf("%w: sample %d has %d values, sample 0 has %d", ErrSamples, i, len(s.Vector), dim)
		}
		if s.Class < 0 || s.Class >= nc {
			return fmt.Errorf("%w: sample %d is of class %d, there are %d classes", ErrSamples, i, s.Class, nc)
		}
		count[s.Class]++
	}
	if c := slices.Index(count, 0); c >= 0 {
		return fmt.Errorf("%w: class %s has no samples", ErrSamples, classes[c].ID)
	}
	return nil
}

func finite(x []float64) bool {
	for _, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return false
		}
	}
	return len(x) > 0
}

// objective is the regularised cross-entropy over w = [W row-major, B].
// gonum asks for the value and then the gradient at the same point; one
// pass computes both and the gradient is kept for the second call. The
// two products (scores X·Wᵀ, gradient (P-Y)ᵀ·X) are gonum's blocked,
// parallel and deterministic matrix multiplication: twice as fast as
// plain loops on 4,000 samples of 100 classes (12.5 s against 26.6 s for
// the fit, on two busy cores).
type objective struct {
	x       []float64 // samples, n×dim row-major
	y       []int
	n       int
	nc, dim int
	l2      float64

	at     []float64 // where grad was computed
	grad   []float64
	scores []float64 // n×nc: scores, then p - onehot(y)
}

func newObjective(samples []Sample, nc, dim int, l2 float64) *objective {
	n := len(samples)
	o := &objective{nc: nc, dim: dim, l2: l2, n: n, x: make([]float64, n*dim), y: make([]int, n),
		scores: make([]float64, n*nc), grad: make([]float64, nc*(dim+1))}
	for i, s := range samples {
		row := o.x[i*dim : (i+1)*dim]
		for j, f := range s.Vector {
			row[j] = float64(f)
		}
		o.y[i] = s.Class
	}
	return o
}

func (o *objective) value(w []float64) float64 {
	f := o.eval(w, o.grad)
	o.at = append(o.at[:0], w...)
	return f
}

func (o *objective) gradient(grad, w []float64) {
	if !slices.Equal(o.at, w) {
		o.value(w)
	}
	copy(grad, o.grad)
}

// eval returns the objective at w and writes its gradient to grad.
func (o *objective) eval(w, grad []float64) float64 {
	n, nc, dim := o.n, o.nc, o.dim
	W, B := w[:nc*dim], w[nc*dim:]
	gW, gB := grad[:nc*dim], grad[nc*dim:]
	X := blas64.General{Rows: n, Cols: dim, Stride: dim, Data: o.x}
	S := blas64.General{Rows: n, Cols: nc, Stride: nc, Data: o.scores}
	blas64.Gemm(blas.NoTrans, blas.Trans, 1, X, blas64.General{Rows: nc, Cols: dim, Stride: dim, Data: W}, 0, S)
	var loss float64
	clear(gB)
	for i := range n {
		s := o.scores[i*nc : (i+1)*nc]
		hi := math.Inf(-1)
		for c := range s {
			s[c] += B[c]
			hi = max(hi, s[c])
		}
		// -log p_y = log Σ exp(s_c - hi) + hi - s_y, with no overflow.
		loss += hi - s[o.y[i]]
		var sum float64
		for c := range s {
			s[c] = math.Exp(s[c] - hi)
			sum += s[c]
		}
		loss += math.Log(sum)
		for c := range s {
			s[c] /= sum
		}
		s[o.y[i]]-- // p - onehot(y): the gradient of the loss in the scores
		for c, d := range s {
			gB[c] += d
		}
	}
	fn := float64(n)
	blas64.Gemm(blas.Trans, blas.NoTrans, 1/fn, S, X, 0, blas64.General{Rows: nc, Cols: dim, Stride: dim, Data: gW})
	var reg float64
	for k, v := range W {
		reg += v * v
		gW[k] += o.l2 * v
	}
	for c := range gB {
		gB[c] /= fn
	}
	return loss/fn + o.l2/2*reg
}
