// Package quantize turns a float ONNX convolution network into a static
// int8 one in the QDQ form that ONNX Runtime fuses into integer
// convolutions: per-output-channel symmetric int8 weights
// (DequantizeLinear on an int8 initializer, axis 0), int32 biases at the
// scale input·weight, and uint8 QuantizeLinear/DequantizeLinear pairs on
// the activations every convolution reads.
//
// The work has three steps. Analyse checks that the path from the graph
// input to the feature tensor is a chain this package handles (Conv, Relu
// and MaxPool only) and lists the activation tensors to calibrate
// (Plan.Tensors). The caller runs the float model with those tensors
// exposed (Plan.Probe) over calibration images and feeds each tensor's
// values to a Histogram. Plan.Quantize then writes the int8 graph with
// the ranges a Rule picks from the histograms.
//
//	plan, err := quantize.Analyse(m, "block5_pool", nil)
//	probe, _ := plan.Probe()   // run it; Add each output to hists[i]
//	q, err := plan.Quantize(quantize.Ranges(hists, quantize.Percentile))
//
// The feature tensor stays float, and so does the first convolution when
// its input is the graph input (unless Options.QuantizeInput): a
// standardised 3-channel image loses more to 8 bits than the one layer
// gains in speed.
package quantize
