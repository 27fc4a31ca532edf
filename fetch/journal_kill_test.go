package fetch

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

const (
	journalKillEnv    = "MLINK_JOURNAL_KILL_CHILD_DIR"
	journalKillPieces = 300
	journalKillLen    = 4096
)

// journalKillChild is the child process of TestJournalKill: it resumes from the journal
// in dir, writes the missing pieces one by one and commits each, then exits 0.
func journalKillChild(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	data := journalTestData(journalKillPieces*journalKillLen - 100)
	f := journalTestFile("k.bin", data, journalKillLen)
	id, err := journalIdentityOf(f, 0)
	if err != nil {
		return err
	}
	lock, err := journalLock(root, "k.bin")
	if err != nil {
		return err
	}
	defer lock.release()
	fsys := journalRootFS{root}
	var good []bool
	if st, err := journalLoad(fsys, "k.bin", id); err == nil {
		good = st.done
	} else {
		var de *journalDiscardError
		if !errors.As(err, &de) || de.Reason != journalMissing {
			return fmt.Errorf("journal after a kill: %v", err)
		}
	}
	part, err := root.OpenFile("k.bin.part", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	defer part.Close()
	j, err := newJournal(fsys, "k.bin", id, good, nil)
	if err != nil {
		return err
	}
	for i := range journalKillPieces {
		if good != nil && good[i] {
			continue
		}
		off := int64(i) * journalKillLen
		if _, err := part.WriteAt(data[off:min(off+journalKillLen, int64(len(data)))], off); err != nil {
			return err
		}
		if err := j.commit(part, []int{i}); err != nil {
			return err
		}
	}
	return nil
}

// TestJournalKill kills a process that is writing pieces and committing the journal
// with SIGKILL at random moments, ten times, then lets it finish. After every kill the
// journal must load (a kill never leaves a torn journal: it is replaced by rename) and
// every piece it claims must hold the right bytes; the last run completes the file.
func TestJournalKill(t *testing.T) {
	if dir := os.Getenv(journalKillEnv); dir != "" {
		if err := journalKillChild(dir); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if testing.Short() {
		t.Skip("spawns child processes")
	}
	dir := t.TempDir()
	data := journalTestData(journalKillPieces*journalKillLen - 100)
	id := journalTestID(t, "k.bin", data, journalKillLen)
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	child := func() (*exec.Cmd, *bytes.Buffer) {
		cmd := exec.Command(os.Args[0], "-test.run=^TestJournalKill$")
		cmd.Env = append(os.Environ(), journalKillEnv+"="+dir)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		return cmd, &out
	}
	r := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	prevClaimed := 0
	for kill := range 10 {
		// Kill at a random moment after the child's first commit of this run (the journal
		// is a new file after every commit), so kills land among the commits.
		jpath := filepath.Join(dir, "k.bin"+journalSuffix)
		before, _ := os.Stat(jpath)
		cmd, out := child()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
			if fi, err := os.Stat(jpath); err == nil && (before == nil || !os.SameFile(fi, before)) {
				break
			}
		}
		time.Sleep(time.Duration(r.IntN(20000)) * time.Microsecond)
		cmd.Process.Kill()
		err := cmd.Wait()
		if err == nil {
			t.Logf("kill %d: the child finished before the kill", kill)
		} else if cmd.ProcessState.ExitCode() == 1 {
			t.Fatalf("kill %d: child failed: %v\n%s", kill, err, out)
		}
		st, err := journalLoad(journalRootFS{root}, "k.bin", id)
		if err != nil {
			var de *journalDiscardError
			if errors.As(err, &de) && de.Reason == journalMissing {
				continue // killed before the first commit
			}
			t.Fatalf("kill %d: journal unusable after SIGKILL: %v", kill, err)
		}
		part, _ := os.ReadFile(filepath.Join(dir, "k.bin.part"))
		claimed := 0
		for i, ok := range st.done {
			if !ok {
				continue
			}
			claimed++
			off := i * journalKillLen
			end := min(off+journalKillLen, len(data))
			if len(part) < end || !bytes.Equal(part[off:end], data[off:end]) {
				t.Fatalf("kill %d: journal claims piece %d whose bytes are wrong", kill, i)
			}
		}
		if claimed < prevClaimed {
			t.Fatalf("kill %d: claims went down from %d to %d", kill, prevClaimed, claimed)
		}
		prevClaimed = claimed
	}
	t.Logf("after 10 kills the journal claims %d of %d pieces", prevClaimed, journalKillPieces)
	if prevClaimed == 0 {
		t.Fatal("no kill landed after a commit: the test checked nothing")
	}
	cmd, out := child()
	if err := cmd.Run(); err != nil {
		t.Fatalf("final run: %v\n%s", err, out)
	}
	part, _ := os.ReadFile(filepath.Join(dir, "k.bin.part"))
	if !bytes.Equal(part, data) {
		t.Fatal("the part file is not the data after the final run")
	}
	st, err := journalLoad(journalRootFS{root}, "k.bin", id)
	if err != nil {
		t.Fatal(err)
	}
	for i, ok := range st.done {
		if !ok {
			t.Fatalf("piece %d not claimed after the final run", i)
		}
	}
}
