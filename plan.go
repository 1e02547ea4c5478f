package simsearch

import (
	"context"
	"fmt"
	"io"
	"slices"

	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/internal/quote"
)

// PlanDuplicates is the plan for acting on groups as opts say (see
// dedup.NewPlan and dedup.Plan), recording this engine's database: write
// it with dedup.WritePlan, let a person or a program edit it, and carry
// it out with ApplyPlan.
func (e *Engine) PlanDuplicates(groups []dedup.Group, opts dedup.ActOptions) (*dedup.Plan, error) {
	abs, err := orderedAbs(opts.Roots)
	if err != nil {
		return nil, err
	}
	opts.Roots = abs
	p, err := dedup.NewPlan(groups, &opts)
	if err != nil {
		return nil, err
	}
	if p.Database, err = databaseName(e.opts.DB); err != nil {
		return nil, err
	}
	return p, nil
}

// ApplyPlan carries out plan p (see dedup.Apply; opts.JournalDir defaults
// to JournalDir) and removes the files it moved, deleted or replaced from
// the database. A plan written for another database is applied all the
// same, since every file is checked against the plan itself; log says so.
func (e *Engine) ApplyPlan(ctx context.Context, p *dedup.Plan, opts dedup.ApplyOptions, log io.Writer) (dedup.Outcome, error) {
	if opts.JournalDir == "" {
		opts.JournalDir = e.JournalDir()
	}
	if log != nil && p.Database != "" {
		if db, err := databaseName(e.opts.DB); err == nil && db != p.Database {
			fmt.Fprintf(log, "note: the plan was made from the database %s, not %s\n", p.Database, db)
		}
	}
	p, err := e.honourKeeps(p, log)
	if err != nil {
		return dedup.Outcome{}, err
	}
	out, err := dedup.Apply(ctx, p, &opts, log)
	if ferr := e.forget(out.Changed); ferr != nil && err == nil {
		err = fmt.Errorf("update database after dedup: %w", ferr)
	}
	return out, err
}

// honourKeeps returns p with every member that a keep decision names set
// to keep: the plan may have been written before the decision.
func (e *Engine) honourKeeps(p *dedup.Plan, log io.Writer) (*dedup.Plan, error) {
	ap, err := e.loadApart()
	if err != nil || ap == nil || len(ap.keeps) == 0 {
		return p, err
	}
	if log == nil {
		log = io.Discard
	}
	q := *p
	q.Groups = slices.Clone(p.Groups)
	for gi := range q.Groups {
		g := &q.Groups[gi]
		g.Members = slices.Clone(g.Members)
		for mi := range g.Members {
			m := &g.Members[mi]
			if ap.keeps[m.SHA256] && m.Action != dedup.Keep {
				m.Action = dedup.Keep
				fmt.Fprintf(log, "keep %s: kept by a decision (dedup keep)\n", quote.Path(m.Path))
			}
		}
	}
	return &q, nil
}

// forget removes the items of exactly these paths from the database and
// the index: one lookup per path, so that a run acting on many files in a
// large library does not compare every item with every path.
func (e *Engine) forget(paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	var ids []uint64
	for _, p := range paths {
		it, ok, err := e.db.ItemByPath(p)
		if err != nil {
			return err
		}
		if ok {
			ids = append(ids, it.ID)
		}
	}
	if err := e.remove(ids); err != nil {
		return err
	}
	return e.saveIndex()
}

// DuplicateRuns lists the dedup runs journalled beside the database,
// oldest first (see dedup.Runs).
func (e *Engine) DuplicateRuns() ([]dedup.Run, error) {
	return dedup.Runs(e.JournalDir())
}

// UndoRun reverses the dedup run id (a unique prefix will do; "" means
// the newest that can be undone), whichever runs came after it (see
// dedup.UndoRun). Restored files are indexed again by the next Index run.
func (e *Engine) UndoRun(ctx context.Context, id string, log io.Writer) (dedup.UndoResult, error) {
	return dedup.UndoRun(ctx, e.JournalDir(), id, log)
}

// PurgeTrash removes for good the files that dedup runs put in the trash
// (see dedup.Purge), and says how much space that freed.
func (e *Engine) PurgeTrash(ctx context.Context, opts dedup.PurgeOptions, log io.Writer) (dedup.PurgeResult, error) {
	return dedup.Purge(ctx, e.JournalDir(), &opts, log)
}
