package model

import "github.com/simsearch/simsearch/internal/onnx"

// Entry is one model the catalog knows how to obtain: downloaded from URL
// and verified by Size and SHA256, or built offline when URL is empty.
type Entry struct {
	Name        string
	Description string
	URL         string // empty: built locally, nothing to download
	Size        int64  // bytes of the download
	SHA256      string // hex digest of the download
	Spec        Spec   // what the installed model will be; Path, SHA256 and Output are filled in on install
}

// RandomDescription labels the random-weight model wherever it is shown.
const RandomDescription = "random weights: finds near-duplicates, not subjects"

// TorchPreprocess is the ImageNet preprocessing of PyTorch and the ONNX
// model zoo: RGB in NCHW, pixels scaled to 0..1, then normalised by the
// ImageNet mean and standard deviation; the shorter side resized to
// 256·size/224, then a centre crop.
func TorchPreprocess(size int) Preprocess {
	return Preprocess{
		Size:          size,
		Resize:        ResizeCrop,
		ResizeShorter: size * 256 / 224,
		Layout:        NCHW,
		Order:         RGB,
		Scale:         1.0 / 255,
		Mean:          [3]float32{0.485, 0.456, 0.406},
		Std:           [3]float32{0.229, 0.224, 0.225},
	}
}

// CaffePreprocess is Keras' "caffe" preprocessing (keras.applications
// vgg16.preprocess_input): BGR in NHWC, pixels 0..255 minus the ImageNet
// mean in BGR order, no scaling.
func CaffePreprocess(size int) Preprocess {
	return Preprocess{
		Size:          size,
		Resize:        ResizeCrop,
		ResizeShorter: size * 256 / 224,
		Layout:        NHWC,
		Order:         BGR,
		Scale:         1,
		Mean:          [3]float32{103.939, 116.779, 123.68},
		Std:           [3]float32{1, 1, 1},
	}
}

// Catalog returns the models simsearch knows by name. It is built on each
// call, so callers may modify what they get.
func Catalog() []Entry {
	vgg := func(name, desc string, random bool) Spec {
		s := Spec{
			Name:         name,
			Description:  desc,
			Input:        "data",
			OutputLayout: NCHW,
			Channels:     512,
			GridH:        7,
			GridW:        7,
			Pre:          TorchPreprocess(224),
			// R-MAC pooling and a 0.72 cosine threshold, measured with
			// vgg16-random on testdata/photos and its 25 generated copies
			// (TestCalibration in the root package). With per-image
			// standardisation (set for the random model below), every
			// pooling improves and R-MAC separates best: copies score
			// ≥ 0.809, different photos ≤ 0.635, so 0.72 sits in the middle
			// of the gap (pair precision and recall 1.000 from 0.70 to
			// 0.80). GeM: copies ≥ 0.872, different ≤ 0.794; MAC and GAP
			// overlap. Without standardisation the best was GeM at 0.80
			// with F1 0.966, missing a 20%-brightened copy (0.74). The
			// pretrained weights could not be measured offline and share
			// these defaults until they are.
			Pooling:   RMAC,
			Threshold: 0.72,
			Random:    random,
		}
		// Random filters respond to brightness as much as to content;
		// standardising each image's channels removes brightness and
		// contrast before the network sees them (see the figures above).
		s.Pre.Standardize = random
		return s
	}
	// The zoo's classifiers end in 1,000 ImageNet scores; Pull records
	// which output holds them.
	zoo := func(s Spec) Spec {
		s.Classes, s.Labels = 1000, LabelsImageNet
		return s
	}
	const (
		vgg16Desc     = "VGG16 trained on ImageNet (ONNX model zoo vgg16-12), pool5 features"
		vgg19Desc     = "VGG19 trained on ImageNet (ONNX model zoo vgg19-7), pool5 features"
		vgg16Int8Desc = "VGG16 trained on ImageNet, quantized to int8 (ONNX model zoo vgg16-12-int8), pool5 features"
		// The random models are the trunk only: no classifier, so no
		// ImageNet classes (and 59 MB for vgg16-random, not 528).
		vgg16RandomDesc = "VGG16 architecture, trunk only, " + RandomDescription
		vgg19RandomDesc = "VGG19 architecture, trunk only, " + RandomDescription
	)
	const zooDir = "https://github.com/onnx/models/raw/main/validated/vision/classification/vgg/model/"
	return []Entry{
		{
			Name:        "vgg16",
			Description: vgg16Desc,
			URL:         zooDir + "vgg16-12.onnx",
			Size:        553_437_752,
			SHA256:      "722c42f53ca03a5480296bf8f9c85a151de3eed9ec982d7d2302ff6e2900c67b",
			Spec:        zoo(vgg("vgg16", vgg16Desc, false)),
		},
		{
			Name:        "vgg16-random",
			Description: vgg16RandomDesc,
			Spec:        vgg("vgg16-random", vgg16RandomDesc, true),
		},
		{
			Name:        "vgg19",
			Description: vgg19Desc,
			URL:         zooDir + "vgg19-7.onnx",
			Size:        574_677_321,
			SHA256:      "692f9f927f1df1b89033787a77a73eac59fd9b3344f9ecdf0b13221e41c2046f",
			Spec:        zoo(vgg("vgg19", vgg19Desc, false)),
		},
		{
			// vgg19-random shares vgg16-random's pooling and
			// standardisation. Its threshold is its own: `simsearch
			// --model vgg19-random eval --groups
			// testdata/eval/sample-groups.tsv` gives copies ≥ 0.812 and
			// different photos ≤ 0.718 (jetty against sunset), so
			// vgg16-random's 0.72 would sit at the edge of the gap; 0.76
			// is in its middle (pair precision and recall 1.000 from 0.72
			// to 0.81).
			Name:        "vgg19-random",
			Description: vgg19RandomDesc,
			Spec:        withThreshold(vgg("vgg19-random", vgg19RandomDesc, true), 0.76),
		},
		{
			Name:        "vgg16-int8",
			Description: vgg16Int8Desc,
			URL:         zooDir + "vgg16-12-int8.onnx",
			Size:        138_407_238,
			SHA256:      "0d0a8e1d69f70404421e37dbad4f8bd21d42758e9f426bd5b39e9e4e9e1afa23",
			Spec:        zoo(vgg("vgg16-int8", vgg16Int8Desc, false)),
		},
	}
}

func withThreshold(s Spec, th float32) Spec {
	s.Threshold = th
	return s
}

// randomConfig is the network the random catalog entry name builds.
func randomConfig(name string) (onnx.VGGConfig, bool) {
	switch name {
	case "vgg16-random":
		return onnx.VGG16Config(false), true
	case "vgg19-random":
		return onnx.VGG19Config(false), true
	}
	return onnx.VGGConfig{}, false
}

// Lookup returns the catalog entry called name.
func Lookup(name string) (Entry, bool) {
	for _, e := range Catalog() {
		if e.Name == name {
			return e, true
		}
	}
	return Entry{}, false
}
