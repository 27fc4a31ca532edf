package fetch

import (
	"sync"
	"time"
)

// journalSink feeds a journal from the download engine: the engine calls pieceWritten(i)
// after piece i verified and its WriteAt into the part file returned (it satisfies the
// engine's pieceSink interface); every interval, and on flush and close, the sink commits
// the pieces gathered so far (journal.commit: fsync the part file, then record them,
// then save the journal atomically). So at most one interval of finished pieces is lost
// to a crash, and never a piece whose bytes were not fsynced first.
//
// When a commit fails (fsync EIO, no space for the journal), the error is passed to onErr
// (the engine should end the download: a disk error is not the mirror's fault), returned
// by every later flush and by close, and nothing more is ever recorded: after a failed
// fsync the kernel may have discarded dirty pages of pieces written before it while a later
// fsync succeeds (SECURITY.md catalogue case 37), so no piece of this run can be trusted
// beyond the last good commit. The next run re-verifies what the journal claims.
type journalSink struct {
	j     *journal
	part  journalSyncer
	onErr func(error)

	flushMu sync.Mutex // serialises commits

	mu      sync.Mutex // guards the fields below
	pending []int
	err     error

	stop chan struct{}
	done chan struct{}
}

// journalStartSink starts a sink that commits every interval (<= 0 means one second, the
// most issue 7 allows). onErr may be nil. The flusher goroutine ends in close.
func journalStartSink(j *journal, part journalSyncer, interval time.Duration, onErr func(error)) *journalSink {
	if interval <= 0 {
		interval = time.Second
	}
	s := &journalSink{j: j, part: part, onErr: onErr, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				s.flush()
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

// pieceWritten queues piece i for the next commit. Call it only after the piece's hash
// verified and its WriteAt returned.
func (s *journalSink) pieceWritten(i int) {
	s.mu.Lock()
	s.pending = append(s.pending, i)
	s.mu.Unlock()
}

// flush commits the queued pieces now and returns the commit's error.
func (s *journalSink) flush() error {
	s.flushMu.Lock()
	defer s.flushMu.Unlock()
	s.mu.Lock()
	if s.err != nil {
		err := s.err
		s.mu.Unlock()
		return err
	}
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	err := s.j.commit(s.part, batch)
	if err != nil {
		s.mu.Lock()
		first := s.err == nil
		if first {
			s.err = err
		}
		s.mu.Unlock()
		if first && s.onErr != nil {
			s.onErr(err)
		}
	}
	return err
}

// close stops the flusher, commits what is queued (call it before exiting on an
// interruption too) and returns the first commit error of the sink's life.
func (s *journalSink) close() error {
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
	s.flush()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
