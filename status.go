package simsearch

import (
	"fmt"
	"time"

	"github.com/simsearch/simsearch/internal/pgstore"
)

// WorkStatus is how far the index runs sharing a database are: what is
// stored, queued, claimed by each worker, and failed. Only a server
// database has a work queue (Shared); on a database file the queue
// fields are zero.
type WorkStatus struct {
	Database string `json:"database"`
	Shared   bool   `json:"shared"`
	Items    int    `json:"items"`   // stored
	Queued   int    `json:"queued"`  // waiting for a worker
	Claimed  int    `json:"claimed"` // held by a live lease
	Failed   int    `json:"failed"`  // recorded failures (stats lists them)
	// Workers are those holding claims or seen in the last 10 minutes,
	// by name.
	Workers []WorkerStatus `json:"workers"`
}

// WorkerStatus is one index run's part of the shared work.
type WorkerStatus struct {
	Name      string        `json:"name"`    // host/pid/random
	Claimed   int           `json:"claimed"` // files it holds now
	LeaseLeft time.Duration `json:"lease_left_ns"`
	Stored    int64         `json:"stored"` // files it stored from its claims
	Started   time.Time     `json:"started"`
	Seen      time.Time     `json:"seen"` // its last claim or heartbeat
	// Rate is Stored per second since Started: until now while it holds
	// claims, until Seen once it holds none; 0 within its first second.
	Rate float64 `json:"rate"`
}

// statuser is a database with a work queue (*pgstore.DB).
type statuser interface {
	Status() (pgstore.WorkStatus, error)
}

var _ statuser = (*pgstore.DB)(nil)

// ReadStatus reads how far the index runs sharing the database db are,
// opening it read-only without a model or the index: a bbolt file waits
// up to lockTimeout (0 means 2 s) for a writer to let go.
func ReadStatus(db string, lockTimeout time.Duration) (WorkStatus, error) {
	if err := statDatabase(db); err != nil {
		return WorkStatus{}, fmt.Errorf("open %s: %w", db, err)
	}
	s, err := openStore(db, storageOptions{ReadOnly: true, LockTimeout: lockTimeout})
	if err != nil {
		return WorkStatus{}, err
	}
	defer s.Close()
	return workStatus(s)
}

// WorkStatus reads how far the index runs sharing the database are.
func (e *Engine) WorkStatus() (WorkStatus, error) { return workStatus(e.db) }

func workStatus(db storage) (WorkStatus, error) {
	st := WorkStatus{Database: db.Path(), Workers: []WorkerStatus{}}
	var err error
	if st.Items, err = db.Len(); err != nil {
		return WorkStatus{}, err
	}
	f, err := db.Failures()
	if err != nil {
		return WorkStatus{}, err
	}
	st.Failed = len(f)
	s, ok := db.(statuser)
	if !ok {
		return st, nil
	}
	q, err := s.Status()
	if err != nil {
		return WorkStatus{}, err
	}
	st.Shared, st.Queued, st.Claimed = true, q.Queued, q.Claimed
	for _, w := range q.Workers {
		ws := WorkerStatus{Name: w.Owner, Claimed: w.Claimed, LeaseLeft: w.LeaseLeft, Stored: w.Stored, Started: w.Started, Seen: w.Seen}
		end := w.Seen // a worker that holds nothing may be done
		if w.Claimed > 0 {
			end = time.Now()
		}
		if d := end.Sub(w.Started); d >= time.Second {
			ws.Rate = float64(w.Stored) / d.Seconds()
		}
		st.Workers = append(st.Workers, ws)
	}
	return st, nil
}
