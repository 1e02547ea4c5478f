package model

// Layout is the memory order of the network's input tensor.
type Layout string

// Input layouts.
const (
	NCHW Layout = "NCHW" // PyTorch / ONNX model zoo
	NHWC Layout = "NHWC" // Keras / TensorFlow exports
)

// ColorOrder is the channel order the network expects.
type ColorOrder string

// Channel orders.
const (
	RGB ColorOrder = "RGB"
	BGR ColorOrder = "BGR" // Keras "caffe" preprocessing
)

// ResizePolicy says how an image of any aspect ratio becomes Size×Size.
type ResizePolicy string

// Resize policies.
const (
	// ResizeCrop scales the shorter side to ResizeShorter, then takes the
	// centre Size×Size crop (the ImageNet evaluation protocol).
	ResizeCrop ResizePolicy = "shorter-crop"
	// ResizeSquash scales both sides to Size, ignoring the aspect ratio.
	ResizeSquash ResizePolicy = "squash"
)

// Pooling names how a C×H×W feature map becomes one C-dimensional vector.
type Pooling string

// Pooling methods.
const (
	GAP  Pooling = "gap"  // global average pooling
	GeM  Pooling = "gem"  // generalised mean, p=3
	MAC  Pooling = "mac"  // global max pooling
	RMAC Pooling = "rmac" // regional MAC over a multi-scale grid
	// None is for models whose output is already one vector per image
	// (N×D, an image encoder such as CLIP's or DINOv2's): the vector is
	// used as it is, and no other pooling applies to it.
	None Pooling = "none"
)

// Preprocess says how decoded pixels become the network's input tensor:
// value = (pixel*Scale - Mean[c]) / Std[c], with pixel in 0..255.
type Preprocess struct {
	Size          int          `json:"size"`           // square input side, 224 for VGG16
	Resize        ResizePolicy `json:"resize"`         // ResizeCrop or ResizeSquash
	ResizeShorter int          `json:"resize_shorter"` // shorter side before the crop, 256
	Layout        Layout       `json:"layout"`
	Order         ColorOrder   `json:"order"`
	Scale         float32      `json:"scale"` // 1/255 for torch-style, 1 for caffe-style
	Mean          [3]float32   `json:"mean"`  // per channel, in Order
	Std           [3]float32   `json:"std"`   // per channel, in Order; 1 means none
	// Standardize rescales each channel of each image to mean 0 and
	// standard deviation 1 after the above, which makes the input blind
	// to a change of brightness or contrast.
	Standardize bool `json:"standardize,omitempty"`
}

// Spec describes one runnable model: where its ONNX file is, how to feed it
// and which output holds the feature map.
type Spec struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Path        string `json:"path"`   // local ONNX file, once pulled or built
	Input       string `json:"input"`  // input tensor name
	Output      string `json:"output"` // feature map output name (C×H×W per image)
	// OutputLayout is the memory order of that output: NCHW (the default
	// when empty, and what every ONNX MaxPool yields) or NHWC, as a Keras
	// export's last layer gives.
	OutputLayout Layout     `json:"output_layout,omitempty"`
	Channels     int        `json:"channels"` // C of the feature map, 512 for VGG16
	GridH        int        `json:"grid_h"`   // H of the feature map, 7 for VGG16 at 224
	GridW        int        `json:"grid_w"`   // W of the feature map
	Pre          Preprocess `json:"preprocess"`
	Pooling      Pooling    `json:"pooling"`   // default pooling, chosen by measurement
	Threshold    float32    `json:"threshold"` // default near-duplicate cosine threshold
	Random       bool       `json:"random"`    // random weights: near-duplicates only
	SHA256       string     `json:"sha256"`    // of the ONNX file as used (after any graph edit), hex
	// Quantized says what the graph computes in, read from the graph
	// when the model is installed: QuantizedInt8 when it quantizes to
	// 8-bit integers (QuantizeLinear/DequantizeLinear pairs, as
	// simsearch's quantizer writes, or integer operators such as
	// QLinearConv, as the ONNX model zoo's int8 models use),
	// QuantizedNone when it is float. A spec saved before it was recorded
	// has "": see IsInt8.
	Quantized string `json:"quantized,omitempty"`

	// Logits names the classifier output, N×Classes raw scores (softmax
	// gives the probabilities), run in the same pass as the feature map;
	// "" when the model has no classifier.
	Logits  string `json:"logits,omitempty"`
	Classes int    `json:"classes,omitempty"`
	// Labels names the class list of Logits: LabelsImageNet for the 1,000
	// ILSVRC-2012 classes; "" when the classes have no known names.
	Labels string `json:"labels,omitempty"`

	// Center holds, per pooling method, the mean of L2-normalised pooled
	// vectors over a fixed reference set of photos. Subtracting it (then
	// L2-normalising again) removes the large common component that ReLU
	// features share, which otherwise crowds every cosine near 1.
	Center map[Pooling][]float32 `json:"center,omitempty"`
}

// LabelsImageNet is Spec.Labels for the 1,000 ILSVRC-2012 classes, in the
// order of the ONNX model zoo's and Keras' classifiers.
const LabelsImageNet = "imagenet"
