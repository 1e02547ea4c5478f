package simsearch

import (
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
	// Rate is Stored per second between Started and Seen; 0 before a
	// second has passed.
	Rate float64 `json:"rate"`
}

// statuser is a database with a work queue (*pgstore.DB).
type statuser interface {
	Status() (pgstore.WorkStatus, error)
}

var _ statuser = (*pgstore.DB)(nil)

// WorkStatus reads how far the index runs sharing the database are.
func (e *Engine) WorkStatus() (WorkStatus, error) {
	st := WorkStatus{Database: e.db.Path()}
	var err error
	if st.Items, err = e.db.Len(); err != nil {
		return WorkStatus{}, err
	}
	f, err := e.db.Failures()
	if err != nil {
		return WorkStatus{}, err
	}
	st.Failed = len(f)
	s, ok := e.db.(statuser)
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
		if d := w.Seen.Sub(w.Started); d >= time.Second {
			ws.Rate = float64(w.Stored) / d.Seconds()
		}
		st.Workers = append(st.Workers, ws)
	}
	return st, nil
}
