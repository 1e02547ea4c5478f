package extractor_test

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"

	"github.com/simsearch/simsearch/internal/extractor"
	"github.com/simsearch/simsearch/model"
)

// Decoding, preprocessing and pooling without a network: the feature map
// here is made up, where the pipeline would take it from ONNX Runtime.
func Example() {
	m := image.NewNRGBA(image.Rect(0, 0, 640, 480))
	for y := range 480 {
		for x := range 640 {
			m.SetNRGBA(x, y, color.NRGBA{200, 150, 100, 255})
		}
	}
	var file bytes.Buffer
	if err := png.Encode(&file, m); err != nil {
		panic(err)
	}

	pre := model.Preprocess{
		Size: 224, Resize: model.ResizeCrop, ResizeShorter: 256,
		Layout: model.NCHW, Order: model.RGB, Scale: 1.0 / 255,
		Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225},
	}
	img, info, err := extractor.DecodeBytes(file.Bytes(), &extractor.DecodeOptions{
		MinSide: extractor.MinSideFor(pre), // shrink while decoding; Tensor's result is the same
	})
	if err != nil {
		panic(err)
	}
	input := make([]float32, 3*224*224)
	if err := extractor.Tensor(input, img, pre); err != nil {
		panic(err)
	}
	fmt.Printf("%s %d×%d, red channel starts %.3f\n", info.Format, info.Width, info.Height, input[0])

	fm := []float32{ // 2 channels × 2×2
		1, 2, 3, 4,
		0, 0, 0, 2,
	}
	v, err := extractor.Pool(fm, 2, 2, 2, model.GAP)
	if err != nil {
		panic(err)
	}
	fmt.Printf("gap %.3f\n", v)

	_, _, err = extractor.DecodeBytes([]byte("\x00\x00\x00\x0cJXL \r\n\x87\n"), nil)
	fmt.Println(err)
	// Output:
	// png 640×480, red channel starts 1.307
	// gap [0.981 0.196]
	// unsupported format jxl
}
