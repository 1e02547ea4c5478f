package simsearch

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/model"
)

// Int8Env names the environment variable that says whether a new
// database gets the int8 variant of the default model: "off" never, "on"
// always, "" or "auto" when the CPU has int8 instructions (VNNI or AMX).
// A database keeps the model it was built with whatever it says.
const Int8Env = "SIMSEARCH_INT8"

// Int8Speedup is how much faster the int8 VGG16 trunk ran than fp32 on a
// CPU with AVX-512 VNNI and AMX-INT8 (issue 15: 35-38 against 10.4
// images/s on 2 threads, both on ONNX Runtime). With oneDNN (issue 16),
// which runs int8 on AMX-INT8 and the fp32 model in bf16 on AMX-BF16,
// int8 stays 2.4-3.5× as fast as bf16 (the trunk alone, loaded host). A
// CPU with VNNI alone gains less.
const Int8Speedup = "about 3x"

// ModelChoice is the model a command uses when none is named, and why.
type ModelChoice struct {
	Name    string        // the model
	Pooling model.Pooling // "" means the model's own
	// Explicit says ModelOptions.Name named it.
	Explicit bool
	// FromDB says the database records it: it was built with that model.
	FromDB bool
	// Int8 says Name is the int8 variant that a new database gets in
	// place of Float, the fp32 default (see Int8Env).
	Int8  bool
	Float string
	// Features are the CPU's int8 instructions, e.g. avx512_vnni,
	// amx_int8; empty when it has none.
	Features []string
}

// Notice is one line that says why a new database gets an int8 model
// and how to get fp32 instead, or "" when it does not.
func (c ModelChoice) Notice() string {
	if !c.Int8 || c.Explicit || c.FromDB {
		return ""
	}
	how := "--model " + c.Float + " (or " + Int8Env + "=off) for fp32"
	if len(c.Features) == 0 {
		return fmt.Sprintf("using %s: %s=on, though this CPU has no VNNI or AMX to make int8 faster; %s", c.Name, Int8Env, how)
	}
	speed := "faster"
	if slices.Contains(c.Features, "amx_int8") {
		speed = Int8Speedup + " faster"
	}
	return fmt.Sprintf("using %s: int8 is %s on this CPU (%s) and matches fp32 on the accuracy gates; %s",
		c.Name, speed, strings.Join(c.Features, ", "), how)
}

// IsInt8 reports whether name is an int8 model by its name: simsearch's
// own quantizations (model.QuantizedName) and the catalog's vgg16-int8
// alike end in -int8. It is for a name alone (a database's record); a
// model's spec knows from its graph (model.Spec.IsInt8), and a database
// built with an int8 model of another name records it (Stats.Engine ends
// in "int8").
func IsInt8(name string) bool { return strings.HasSuffix(name, "-int8") }

// QuantizedFrom returns the offline-built catalog model (vgg16-random)
// whose int8 quantization name is, if it is one: PrepareModel builds
// such a model on first use, as it builds vgg16-random.
func QuantizedFrom(name string) (string, bool) {
	base, ok := strings.CutSuffix(name, "-int8")
	if !ok {
		return "", false
	}
	e, ok := model.Lookup(base)
	if !ok || e.URL != "" || model.QuantizedName(base) != name {
		return "", false
	}
	return base, true
}

// DatabaseModel returns the model and pooling the database at path was
// built with, opening it read-only and loading no model; both are ""
// when it records none yet. A missing file is an error that matches
// fs.ErrNotExist. lockTimeout bounds the wait for a writer (0 means 2 s).
func DatabaseModel(path string, lockTimeout time.Duration) (string, model.Pooling, error) {
	db, err := openStore(path, storageOptions{ReadOnly: true, LockTimeout: lockTimeout})
	if err != nil {
		return "", "", err
	}
	m, err := db.Meta()
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", "", err
	}
	label, _ := splitLabel(m.ModelName)
	name, pooling, _ := strings.Cut(label, "/")
	return name, model.Pooling(pooling), nil
}

// ChooseModel returns the model Open uses for opts.DB when
// opts.ModelOptions names none: the one the database was built with, so
// that changing the default never breaks an existing database; else, for
// a new database, NewDatabaseModel's. A named model is returned as it is.
// It waits for another process's lock as Open would.
func ChooseModel(opts *Options) (ModelChoice, error) {
	if opts == nil || opts.DB == "" {
		return ModelChoice{}, fmt.Errorf("choose model: no database path")
	}
	return chooseModel(opts.DB, lockTimeout(opts), opts.ModelOptions)
}

// lockTimeout is how long Open waits for another process's lock.
func lockTimeout(o *Options) time.Duration {
	switch {
	case o.LockTimeout != 0:
		return o.LockTimeout
	case o.ReadOnly:
		// A query may arrive while an index run writes its index
		// snapshot, which takes seconds for a large collection.
		return 10 * time.Second
	}
	return 2 * time.Second
}

func chooseModel(db string, lockTimeout time.Duration, opts *ModelOptions) (ModelChoice, error) {
	m, err := newModel(opts)
	if err != nil {
		return ModelChoice{}, err
	}
	if opts != nil && opts.Name != "" {
		return ModelChoice{Name: opts.Name, Pooling: opts.Pooling, Explicit: true}, nil
	}
	name, pooling, err := DatabaseModel(db, lockTimeout)
	switch {
	case errors.Is(err, ErrLocked):
		// Not a new database: its default would be wrong.
		return ModelChoice{}, fmt.Errorf("read the model of %s: %w", db, err)
	case err == nil && name != "":
		if m.opts.Pooling != "" {
			pooling = m.opts.Pooling
		}
		return ModelChoice{Name: name, Pooling: pooling, FromDB: true}, nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Damaged or too new: Open says so with what to do about it. It
		// is not a new database, so it gets the fp32 default it had
		// before there was an int8 one (check --repair opens it so).
		return ModelChoice{Name: DefaultModel(m.opts.Dir), Pooling: m.opts.Pooling}, nil
	}
	// A missing file, or one that records no model yet, is a new database.
	return NewDatabaseModel(&m.opts)
}

// NewDatabaseModel returns the model a new database gets when opts
// (nil means defaults) names none: DefaultModel's, or its int8 variant
// where the CPU has int8 instructions (Int8Env overrides): vgg16-int8
// for vgg16 when it is installed (it must be pulled), vgg16-random-int8
// for vgg16-random (PrepareModel builds it on first use). The accuracy
// gates in quantize_test.go are what make int8 a fair default: equal
// dedup F1 and copy recall@k, cosine to fp32 about 0.99.
func NewDatabaseModel(opts *ModelOptions) (ModelChoice, error) {
	m, err := newModel(opts)
	if err != nil {
		return ModelChoice{}, err
	}
	o := m.opts
	float := DefaultModel(o.Dir)
	c := ModelChoice{Name: float, Pooling: o.Pooling, Float: float}
	if o.Int8Features != nil {
		c.Features = o.Int8Features()
	} else {
		c.Features = extractor.CPUInt8Features()
	}
	switch v := o.Getenv(Int8Env); v {
	case "off":
		return c, nil
	case "on":
	case "", "auto":
		if len(c.Features) == 0 {
			return c, nil
		}
	default:
		return ModelChoice{}, fmt.Errorf("%s=%q: want on, off or auto", Int8Env, v)
	}
	if e, ok := model.PretrainedInt8(float); ok {
		if _, err := model.Load(o.Dir, e.Name); err != nil {
			return c, nil // not pulled: fp32 rather than a download
		}
		c.Name, c.Int8 = e.Name, true
		return c, nil
	}
	if e, ok := model.Lookup(float); ok && e.URL == "" {
		c.Name, c.Int8 = model.QuantizedName(float), true
	}
	return c, nil
}

// withModel returns o.ModelOptions with the model ChooseModel picks
// filled in, for Open.
func withModel(o *Options) (*ModelOptions, error) {
	if o.ModelOptions != nil && o.ModelOptions.Name != "" {
		return o.ModelOptions, nil
	}
	c, err := ChooseModel(o)
	if err != nil {
		return nil, err
	}
	var mo ModelOptions
	if o.ModelOptions != nil {
		mo = *o.ModelOptions
	}
	mo.Name, mo.Pooling = c.Name, c.Pooling
	return &mo, nil
}
