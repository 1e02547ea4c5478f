package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite_ReplacesWholeOrNotAtAll(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "plan.json")
	if err := WriteBytes(path, []byte("old")); err != nil {
		t.Fatal(err)
	}
	// A writer that fails midway leaves the old file and no temporary.
	boom := errors.New("boom")
	err := Write(path, func(w io.Writer) error {
		w.Write([]byte("new, but only h"))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want boom", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old" {
		t.Fatalf("after a failed write the file holds %q", b)
	}
	if err := WriteUnsynced(path, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "new" {
		t.Fatalf("file holds %q, want new", b)
	}
	st, _ := os.Stat(path)
	if st.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", st.Mode().Perm())
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 {
		t.Errorf("folder holds %v, want the file alone", left)
	}
	// The temporary names are what TempPattern matches.
	f, err := os.CreateTemp(dir, ".plan.json.tmp-*")
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if !TempPattern.MatchString(filepath.Base(f.Name())) || TempPattern.MatchString("plan.json") {
		t.Errorf("TempPattern does not tell %s from plan.json", filepath.Base(f.Name()))
	}
}

func TestWrite_MissingFolder(t *testing.T) {
	err := WriteBytes(filepath.Join(t.TempDir(), "no", "such", "file"), []byte("x"))
	if err == nil {
		t.Fatal("wrote into a missing folder")
	}
}
