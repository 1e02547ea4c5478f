package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/model"
)

func modelCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "model",
		Usage: "list, download, build and inspect models",
		Commands: []*cli.Command{
			{
				Name:   "list",
				Usage:  "list catalog and installed models",
				Action: func(ctx context.Context, c *cli.Command) error { return e.modelList(c) },
			},
			{
				Name:      "pull",
				Usage:     "download a catalog model, verify it and expose its feature map",
				ArgsUsage: "NAME",
				Flags: append([]cli.Flag{
					&cli.BoolFlag{Name: "force", Usage: "download again even if installed"},
					&cli.StringFlag{Name: "from", Usage: "install from `FILE` downloaded elsewhere, or from a mirror URL (checked like a download)"},
					quantizeFlag,
				}, progressFlags()...),
				Action: func(ctx context.Context, c *cli.Command) error { return e.modelPull(ctx, c) },
			},
			{
				Name:      "build-random",
				Usage:     "build vgg16-random (or vgg19-random) offline (" + model.RandomDescription + ")",
				ArgsUsage: "[NAME]",
				Flags:     append([]cli.Flag{quantizeFlag}, progressFlags()...),
				Action: func(ctx context.Context, c *cli.Command) error {
					name := c.Args().First()
					if name == "" {
						name = "vgg16-random"
					}
					if en, ok := model.Lookup(name); !ok || !en.Spec.Random {
						return usagef("%q is not a random catalog model (vgg16-random or vgg19-random)", name)
					}
					if err := e.modelPrepare(ctx, c, name); err != nil {
						return err
					}
					return e.quantizeAfter(ctx, c, name)
				},
			},
			{
				Name:      "prepare",
				Usage:     "make a model ready to run (default: the default model): build or compute what is missing",
				ArgsUsage: "[NAME]",
				Action: func(ctx context.Context, c *cli.Command) error {
					return e.modelPrepare(ctx, c, c.Args().First())
				},
			},
			{
				Name:      "quantize",
				Usage:     "write NAME-int8 beside model NAME: int8 weights and activations calibrated on the reference photos",
				ArgsUsage: "NAME",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "calibration", Value: simsearch.DefaultCalibration, Usage: "how activation ranges are chosen: max, percentile (99.99) or mse"},
					&cli.StringFlag{Name: "name", Usage: "name of the int8 model (default NAME-int8)"},
					&cli.BoolFlag{Name: "force", Usage: "replace an installed int8 model"},
				}, progressFlags()...),
				Action: func(ctx context.Context, c *cli.Command) error {
					name := c.Args().First()
					if name == "" || c.Args().Len() > 1 {
						return usagef("model quantize needs one model name (see simsearch model list)")
					}
					return e.modelQuantize(ctx, c, name, c.String("calibration"), c.String("name"), c.Bool("force"))
				},
			},
			{
				Name:      "info",
				Usage:     "print a model's layer table (name, op, output shape, parameters)",
				ArgsUsage: "NAME|FILE.onnx",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "dot", Usage: "also write a Graphviz graph to `FILE` (- for stdout)"},
				},
				Action: func(ctx context.Context, c *cli.Command) error { return e.modelInfo(c) },
			},
			{
				Name:      "register",
				Usage:     "install your own ONNX export under NAME with its preprocessing",
				ArgsUsage: "NAME FILE.onnx",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "input", Usage: "input tensor `NAME` (default: the only input)"},
					&cli.StringFlag{Name: "output", Usage: "feature map output `NAME` (default: the last MaxPool)"},
					&cli.StringFlag{Name: "preset", Value: "torch", Usage: "preprocessing preset: torch (RGB NCHW, /255, ImageNet mean/std) or caffe (Keras: BGR NHWC, mean 103.939,116.779,123.68)"},
					&cli.StringFlag{Name: "layout", Usage: "override input layout: NCHW or NHWC"},
					&cli.StringFlag{Name: "order", Usage: "override channel order: RGB or BGR"},
					&cli.StringFlag{Name: "resize", Usage: "override resize policy: shorter-crop or squash"},
					&cli.IntFlag{Name: "size", Value: 224, Usage: "input side in pixels"},
					&cli.StringFlag{Name: "pooling", Usage: "default pooling: gap, gem, mac or rmac; none (the default) for a model whose output is one vector per image"},
					&cli.StringFlag{Name: "logits", Usage: "classifier output `NAME`, N×classes (default: the one N×K output, if any)"},
					&cli.StringFlag{Name: "labels", Usage: "class names of the classifier: imagenet (1000 classes)"},
				},
				Action: func(ctx context.Context, c *cli.Command) error { return e.modelRegister(ctx, c) },
			},
		},
	}
}

func (e *env) modelsDir(c *cli.Command) (string, error) {
	if d := c.String("models-dir"); d != "" {
		return d, nil
	}
	return model.DefaultDir(e.getenv)
}

func (e *env) modelList(c *cli.Command) error {
	dir, err := e.modelsDir(c)
	if err != nil {
		return err
	}
	list, err := model.List(dir)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSTATUS\tDIMS\tPOOLING\tDESCRIPTION")
	for _, m := range list {
		status := "installed"
		if !m.Installed {
			status = "not installed (" + m.Get + ")"
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", m.Name, status, m.Spec.Channels, m.Spec.Pooling, m.Description)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(e.stderr, "model directory: %s\n", dir)
	return nil
}

// prepared makes the named model (default: the --model flag, else the
// default model) ready to run. The caller closes it.
func (e *env) prepared(ctx context.Context, c *cli.Command, name string) (*simsearch.Model, error) {
	mo, err := e.modelOptions(c)
	if err != nil {
		return nil, err
	}
	if name != "" {
		mo.Name = name
	}
	m, err := simsearch.PrepareModel(ctx, mo)
	if err != nil {
		return nil, modelHint(err, mo.Name)
	}
	return m, nil
}

func (e *env) modelPrepare(ctx context.Context, c *cli.Command, name string) error {
	m, err := e.prepared(ctx, c, name)
	if err != nil {
		return err
	}
	defer m.Close()
	s := m.Spec()
	fmt.Fprintf(e.stdout, "%s ready: %s, %d-d embeddings, %s pooling, threshold %.2f\n", s.Name, s.Path, s.Channels, s.Pooling, s.Threshold)
	if s.Random {
		fmt.Fprintf(e.stdout, "note: %s has %s\n", s.Name, model.RandomDescription)
	}
	return nil
}

// modelHint says what to do next about a model error, once, at the edge.
func modelHint(err error, name string) error {
	if name == "" {
		name = "vgg16" // the only default that is pulled rather than built
	}
	en, inCatalog := model.Lookup(name)
	if base, ok := simsearch.QuantizedFrom(name); ok && errors.Is(err, simsearch.ErrModelNotInstalled) {
		return fmt.Errorf("%w\nhint: run `simsearch model quantize %s` (offline, about a minute), or `simsearch index` builds it", err, base)
	}
	switch {
	case errors.Is(err, simsearch.ErrModelNotInstalled) && !inCatalog:
		return fmt.Errorf("%w\nhint: `simsearch model list` shows the models; install your own export with `simsearch model register %s FILE.onnx`", err, name)
	case errors.Is(err, simsearch.ErrModelNotInstalled) && en.URL == "":
		return fmt.Errorf("%w\nhint: run `simsearch model prepare %s` (it is built offline, in seconds)", err, name)
	case errors.Is(err, simsearch.ErrModelNotInstalled):
		return fmt.Errorf("%w\nhint: run `simsearch model pull %s` (or use --model vgg16-random, which is built offline)", err, name)
	case errors.Is(err, simsearch.ErrModelFile) && inCatalog:
		verb := "download"
		if en.URL == "" {
			verb = "build"
		}
		return fmt.Errorf("%w\nhint: %s it again with `simsearch model pull --force %s`", err, verb, name)
	case errors.Is(err, simsearch.ErrModelFile):
		return fmt.Errorf("%w\nhint: register a working ONNX export again with `simsearch model register %s FILE.onnx`", err, name)
	case errors.Is(err, simsearch.ErrNoRuntime):
		return fmt.Errorf("%w\nhint: run `make` in the source tree (it fetches lib/libonnxruntime.so.1) or set %s", err, simsearch.LibraryEnv)
	case errors.Is(err, model.ErrOffline):
		return fmt.Errorf("%w\nhint: meanwhile --model vgg16-random works offline (random weights: near-duplicates only)", err)
	}
	return err
}

func (e *env) modelPull(ctx context.Context, c *cli.Command) error {
	name := c.Args().First()
	if name == "" {
		return usagef("model pull needs a model name (see simsearch model list)")
	}
	en, ok := model.Lookup(name)
	if !ok {
		return usagef("no model %q in the catalog (see simsearch model list)", name)
	}
	dir, err := e.modelsDir(c)
	if err != nil {
		return err
	}
	opts := &model.PullOptions{Force: c.Bool("force")}
	verb := "download "
	switch from := c.String("from"); {
	case strings.HasPrefix(from, "http://") || strings.HasPrefix(from, "https://"):
		opts.URL = from
	case from != "":
		opts.File, verb = from, "check "
	}
	bar, err := progressFor(c, e.stderr, verb+name, "B")
	if err != nil {
		return err
	}
	opts.Progress = func(done, total int64) { bar.set(done, total) }
	s, err := model.Pull(ctx, en, dir, opts)
	bar.done()
	if err != nil {
		return modelHint(err, name)
	}
	fmt.Fprintf(e.stdout, "%s installed: %s (feature output %s, %d×%d×%d%s)\n", s.Name, s.Path, s.Output, s.Channels, s.GridH, s.GridW, classifier(s))
	if err := e.modelPrepare(ctx, c, name); err != nil {
		return err
	}
	return e.quantizeAfter(ctx, c, name)
}

var quantizeFlag = &cli.BoolFlag{Name: "quantize", Usage: "then write its int8 model, as `simsearch model quantize NAME` does"}

// quantizeAfter runs model quantize on name when --quantize is set.
func (e *env) quantizeAfter(ctx context.Context, c *cli.Command, name string) error {
	if !c.Bool("quantize") {
		return nil
	}
	if p, ok := model.PretrainedInt8(name); ok {
		// Not an error: what was asked for first is installed.
		fmt.Fprintf(e.stdout, "note: not quantizing %s: the catalog has %s (%s); run `simsearch model pull %s`\n", name, p.Name, p.Description, p.Name)
		return nil
	}
	return e.modelQuantize(ctx, c, name, "", "", true)
}

func (e *env) modelQuantize(ctx context.Context, c *cli.Command, name, rule, as string, force bool) error {
	mo, err := e.modelOptions(c)
	if err != nil {
		return err
	}
	mo.Name = name
	bar, err := progressFor(c, e.stderr, "calibrate "+name, "photos")
	if err != nil {
		return err
	}
	q, err := simsearch.QuantizeModel(ctx, mo, &simsearch.QuantizeOptions{Calibration: rule, Name: as, Force: force,
		Progress: func(done, total int) {
			if done == 0 {
				bar.restart() // the rate is of calibration, not of preparing the base model
			}
			bar.set(int64(done), int64(total))
		},
	})
	bar.done()
	switch {
	case errors.Is(err, simsearch.ErrPretrainedInt8):
		p, _ := model.PretrainedInt8(name)
		return fmt.Errorf("%w\nhint: run `simsearch model pull %s` (%s), or pass --name to keep your own int8 model beside it", err, p.Name, p.Description)
	case errors.Is(err, simsearch.ErrQuantizedExists):
		return fmt.Errorf("%w\nhint: pass --force to make it again", err)
	case err != nil:
		return modelHint(err, name)
	}
	s := q.Spec
	fmt.Fprintf(e.stdout, "%s installed: %s (int8, %s calibration; cosine to %s on %d reference photos: median %.4f, min %.4f)\n",
		s.Name, s.Path, q.Calibration, q.Base.Name, q.Agreement.Photos, q.Agreement.Median, q.Agreement.Min)
	if s.Random {
		fmt.Fprintf(e.stdout, "note: %s has %s\n", s.Name, model.RandomDescription)
	}
	return nil
}

func (e *env) modelInfo(c *cli.Command) error {
	arg := c.Args().First()
	if arg == "" {
		return usagef("model info needs a model name or an .onnx file")
	}
	path := arg
	if !strings.HasSuffix(arg, ".onnx") {
		dir, err := e.modelsDir(c)
		if err != nil {
			return err
		}
		s, err := model.Load(dir, arg)
		if err != nil {
			return modelHint(err, arg)
		}
		path = s.Path
	}
	if err := model.Describe(e.stdout, path); err != nil {
		return err
	}
	if d := c.String("dot"); d != "" {
		if d == "-" {
			return model.Dot(e.stdout, path)
		}
		f, err := os.Create(d)
		if err != nil {
			return err
		}
		if err := model.Dot(f, path); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		fmt.Fprintf(e.stderr, "wrote %s (render: dot -Tpng %s -o model.png)\n", d, d)
	}
	return nil
}

func (e *env) modelRegister(ctx context.Context, c *cli.Command) error {
	if c.Args().Len() != 2 {
		return usagef("model register needs NAME and FILE.onnx")
	}
	name, file := c.Args().Get(0), c.Args().Get(1)
	pre, err := model.Preset(c.String("preset"), int(c.Int("size")))
	if err != nil {
		return usageError{err}
	}
	if v := c.String("layout"); v != "" {
		pre.Layout = model.Layout(strings.ToUpper(v))
	}
	if v := c.String("order"); v != "" {
		pre.Order = model.ColorOrder(strings.ToUpper(v))
	}
	if v := c.String("resize"); v != "" {
		pre.Resize = model.ResizePolicy(v)
	}
	s := model.Spec{
		Name: name, Input: c.String("input"), Output: c.String("output"), Pre: pre,
		Pooling: model.Pooling(strings.ToLower(c.String("pooling"))),
		Logits:  c.String("logits"), Labels: strings.ToLower(c.String("labels")),
	}
	dir, err := e.modelsDir(c)
	if err != nil {
		return err
	}
	s, err = model.Register(dir, file, s)
	if err != nil {
		return err
	}
	if s.Pooling == model.None {
		fmt.Fprintf(e.stdout, "%s registered: input %s, vector output %s (%d-d, used as it is%s)\n", s.Name, s.Input, s.Output, s.Channels, classifier(s))
	} else {
		fmt.Fprintf(e.stdout, "%s registered: input %s, feature output %s (%d×%d×%d%s)\n", s.Name, s.Input, s.Output, s.Channels, s.GridH, s.GridW, classifier(s))
	}
	return e.modelPrepare(ctx, c, name)
}

// classifier describes a model's classifier output for the install line.
func classifier(s model.Spec) string {
	switch {
	case s.Logits == "":
		return "; no classifier"
	case s.Labels != "":
		return fmt.Sprintf("; classifier %s, %d %s classes", s.Logits, s.Classes, s.Labels)
	}
	return fmt.Sprintf("; classifier %s, %d unnamed classes", s.Logits, s.Classes)
}
