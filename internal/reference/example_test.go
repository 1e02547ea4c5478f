package reference_test

import (
	"fmt"
	"image/jpeg"

	"github.com/simsearch/simsearch/internal/reference"
)

func ExampleNames() {
	names := reference.Names()
	f, err := reference.Photos().Open(names[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	cfg, err := jpeg.DecodeConfig(f)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(names), names[0], cfg.Width, cfg.Height)
	// Output: 32 appleblossom.jpg 385 256
}
