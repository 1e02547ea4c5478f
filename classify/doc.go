// Package classify names what an image shows: the class lists of
// classifiers (the 1,000 ImageNet classes of VGG16 and VGG19), the
// probabilities and top-k classes of their scores, and small heads trained
// on stored embeddings for a user's own classes (a new softmax top on the
// frozen trunk, as in Keras transfer learning).
package classify
