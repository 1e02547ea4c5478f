package reference

import (
	"embed"
	"fmt"
	"io/fs"
)

// photos is read-only: embed.FS has no method that changes it.
//
//go:embed photos/*.jpg
var photos embed.FS

// Count is the number of photographs in the reference set.
const Count = 32

// Photos returns the reference photographs as a file system whose root
// holds the JPEG files, one per name that Names returns.
func Photos() fs.FS {
	sub, err := fs.Sub(photos, "photos")
	if err != nil {
		// fs.Sub fails only for an invalid path, and "photos" is valid.
		panic(fmt.Sprintf("reference: sub photos: %v", err))
	}
	return sub
}

// Names returns the file names of the reference photographs in Photos,
// sorted. The slice is new on every call; changing it changes nothing here.
func Names() []string {
	entries, err := fs.ReadDir(photos, "photos")
	if err != nil {
		// The directory is embedded at build time and always readable.
		panic(fmt.Sprintf("reference: read embedded photos: %v", err))
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names // fs.ReadDir sorts by name
}
