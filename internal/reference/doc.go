// Package reference provides a fixed set of 32 photographs, embedded in the
// binary, from which each model's post-processing centre is computed: the
// mean of the L2-normalised pooled vectors of these photos (model.Spec's
// Center), which is subtracted from every vector before it is normalised
// again. Because the set is fixed and ships with the code, the same model
// always gets the same centre, offline, on any machine.
//
// The photos are varied (people, animals, plants, landscapes, sky, water,
// objects, two in greyscale), none of them is in testdata/photos, and each
// is a JPEG of quality 85 with 256 px on its shorter side and no metadata.
// photos/SOURCES.md names the Debian package, author and licence of each;
// make-photos.sh rebuilds them. Changing the set changes every centre.
//
// Photos returns the files as an fs.FS and Names their sorted names; Count
// is how many there are.
//
// Example: decode every reference photo.
//
//	for _, name := range reference.Names() {
//		f, err := reference.Photos().Open(name)
//		if err != nil {
//			return err
//		}
//		img, err := jpeg.Decode(f)
//		f.Close()
//		if err != nil {
//			return fmt.Errorf("decode %s: %w", name, err)
//		}
//		use(img)
//	}
package reference
