package main

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHeadName(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for in, want := range map[string]string{
		"pets":         "pets.head.json",
		"photos/pets/": "pets.head.json",
		".":            filepath.Base(wd) + ".head.json", // never a dot-file
		"/":            "train.head.json",
	} {
		if got := headName(in); got != want {
			t.Errorf("headName(%q) = %q, want %q", in, got, want)
		}
	}
}
