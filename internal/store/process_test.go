package store

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The tests here run a second process: the test binary itself, told by
// helperEnv which part to play. A child goroutine would not do for the
// crash test, and the lock test should show what another process sees.
const (
	helperEnv   = "STORE_TEST_HELPER"
	helperDBEnv = "STORE_TEST_DB"
	helperArg   = "STORE_TEST_ARG"
)

func TestMain(m *testing.M) {
	if role := os.Getenv(helperEnv); role != "" {
		if err := runHelper(role, os.Getenv(helperDBEnv), os.Getenv(helperArg)); err != nil {
			fmt.Fprintln(os.Stderr, "helper:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// crashBatch is the size of the batches the "write" helper commits.
const crashBatch = 200

func runHelper(role, path, arg string) error {
	switch role {
	case "hold", "hold-readonly":
		// Hold the database until stdin closes.
		db, err := Open(path, &Options{ReadOnly: role == "hold-readonly"})
		if err != nil {
			return err
		}
		fmt.Println("ready")
		_, _ = io.Copy(io.Discard, os.Stdin)
		return db.Close()
	case "write":
		// Commit batches from number arg on (deleting a few of their items
		// now and then) until killed, saying which batch was committed.
		first, err := strconv.Atoi(arg)
		if err != nil {
			return err
		}
		db, err := Open(path, &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 64})
		if err != nil {
			return err
		}
		for batch := first; ; batch++ {
			ids, err := db.Put(testRecords(batch*crashBatch, crashBatch, 64))
			if err != nil {
				return err
			}
			if batch%3 == 2 {
				if err := db.Delete(ids[:10]); err != nil {
					return err
				}
			}
			fmt.Printf("committed %d\n", batch)
		}
	}
	return fmt.Errorf("unknown role %q", role)
}

// startHelper runs the test binary as helper role on path.
func startHelper(t *testing.T, role, path, arg string) (cmd *exec.Cmd, stdin io.WriteCloser, stdout *bufio.Scanner) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+role, helperDBEnv+"="+path, helperArg+"="+arg,
		// A race-enabled binary otherwise sleeps a second before exiting.
		"GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	cmd.Stderr = os.Stderr
	if stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd, stdin, bufio.NewScanner(out)
}

func TestStore_LockedByAnotherProcess(t *testing.T) {
	tests := []struct {
		role         string
		writerLocked bool
		readerLocked bool
	}{
		{"hold", true, true},
		{"hold-readonly", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.role, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "simsearch.db")
			db, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			db.Close()
			cmd, stdin, stdout := startHelper(t, tt.role, path, "")
			if !stdout.Scan() || stdout.Text() != "ready" {
				t.Fatalf("helper did not get ready: %q, %v", stdout.Text(), stdout.Err())
			}
			for _, ro := range []bool{false, true} {
				want := tt.writerLocked
				if ro {
					want = tt.readerLocked
				}
				db, err := Open(path, &Options{ReadOnly: ro, Timeout: -1})
				if err == nil {
					db.Close()
				}
				if got := errors.Is(err, ErrLocked); got != want {
					t.Errorf("Open(ReadOnly: %t) beside %s: %v; want locked=%v", ro, tt.role, err, want)
				}
				if err != nil && !strings.Contains(err.Error(), "in use by another simsearch process") {
					t.Errorf("error %q does not say the database is in use", err)
				}
			}
			stdin.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("helper: %v", err)
			}
			db, err = Open(path, &Options{Timeout: -1})
			if err != nil {
				t.Fatalf("Open after the helper left: %v", err)
			}
			db.Close()
		})
	}
}

func TestStore_ReopenAfterCrash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "simsearch.db")
	// Three crashes in a row, each writer starting where the last was
	// killed, so recovery from a crash is itself crashed into.
	last := -1
	for round := range 3 {
		cmd, _, stdout := startHelper(t, "write", path, strconv.Itoa(last+1))
		target := last + 6
		for last < target && stdout.Scan() {
			n, err := strconv.Atoi(strings.TrimPrefix(stdout.Text(), "committed "))
			if err != nil {
				t.Fatalf("helper said %q", stdout.Text())
			}
			last = n
		}
		// Kill it mid-stride: it is busy committing the next batches.
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Wait()
		if last < target {
			t.Fatalf("round %d: helper stopped after batch %d: %v", round, last, stdout.Err())
		}
		// Batches after last may or may not have landed; start after them.
		db, err := Open(path, &Options{ReadOnly: true})
		if err != nil {
			t.Fatalf("Open after crash %d: %v", round, err)
		}
		mustCheck(t, db)
		for {
			if _, ok, _ := db.ItemByPath(testItem((last+1)*crashBatch + crashBatch - 1).Path); !ok {
				break
			}
			last++
		}
		db.Close()
	}

	db, err := Open(path, &Options{Fingerprint: testFP, ModelName: "vgg16", Dims: 64})
	if err != nil {
		t.Fatalf("Open after the crashes: %v", err)
	}
	defer db.Close()
	mustCheck(t, db)
	// Every batch reported committed is there, less its deletions.
	deleted := 0
	for batch := 0; batch <= last; batch++ {
		for i := 10; i < crashBatch; i += 37 {
			if _, ok, err := db.ItemByPath(testItem(batch*crashBatch + i).Path); !ok || err != nil {
				t.Fatalf("item %d of committed batch %d is missing (%v)", i, batch, err)
			}
		}
		if _, ok, _ := db.ItemByPath(testItem(batch * crashBatch).Path); !ok {
			deleted += 10
		}
	}
	n, _ := db.Len()
	if want := (last+1)*crashBatch - deleted; n != want {
		t.Errorf("Len() = %d after %d committed batches with %d deletions, want %d", n, last+1, deleted, want)
	}
	if m, _ := db.Meta(); m.ItemsVersion < uint64(last+1) {
		t.Errorf("ItemsVersion = %d after %d committed batches", m.ItemsVersion, last+1)
	}
	if _, err := db.Put(testRecords(1_000_000, 10, 64)); err != nil {
		t.Errorf("Put after the crashes: %v", err)
	}
	mustCheck(t, db)
}
