package simsearch

import (
	"fmt"
	"math"
	"strings"

	"github.com/simsearch/simsearch/internal/store"
)

// Check verifies the database (bbolt's own check and the store's
// invariants) and that the index holds exactly the stored items. With
// repair, a damaged database is salvaged (see salvage) and an index that
// does not match the items is rebuilt from the stored vectors. It returns
// the problems found and what was done, in plain words.
func (e *Engine) Check(repair bool) ([]string, error) {
	problems, err := e.db.Check()
	if err != nil {
		return nil, err
	}
	if len(problems) > 0 {
		// The file itself is damaged: the index cannot be trusted to be
		// compared with it, and only a copy of what is readable helps.
		if !repair {
			return problems, nil
		}
		done, err := e.salvage()
		return append(problems, done...), err
	}
	// Vectors are stored L2-normalised and bbolt keeps no checksums, so a
	// vector whose length is not 1 was damaged on disk. Its photo is still
	// there: drop the item and the next index run embeds it again.
	var bad []uint64
	var badPaths []string
	err = e.db.ForEachVector(func(id uint64, v []float32) error {
		var ss float64
		for _, x := range v {
			ss += float64(x) * float64(x)
		}
		if math.IsNaN(ss) || math.Abs(math.Sqrt(ss)-1) > 1e-3 {
			bad = append(bad, id)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 {
		for _, id := range bad {
			if it, ok, err := e.db.Item(id); err == nil && ok {
				badPaths = append(badPaths, it.Path)
			}
		}
		problems = append(problems, fmt.Sprintf("%d stored vectors are damaged (not of unit length): %s", len(bad), strings.Join(firstN(badPaths, 5), ", ")))
		if repair {
			if err := e.remove(bad); err != nil {
				return problems, err
			}
			problems = append(problems, fmt.Sprintf("repaired: %d damaged items removed; run `simsearch index` on their folders to embed them again", len(bad)))
		}
	}
	n, err := e.db.Len()
	if err != nil {
		return nil, err
	}
	missing := 0
	err = e.db.ForEachItem(func(it store.Item) error {
		if !e.idx.Contains(it.ID) {
			missing++
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	indexOK := missing == 0 && e.idx.Len() == n
	if len(bad) > 0 && repair && indexOK {
		if err := e.writeIndex(); err != nil {
			return problems, err
		}
	}
	if !indexOK {
		problems = append(problems, fmt.Sprintf("index holds %d vectors for %d stored items (%d items missing from it)", e.idx.Len(), n, missing))
		if repair {
			if err := e.rebuildIndex(); err != nil {
				return problems, err
			}
			problems = append(problems, "repaired: index rebuilt from the stored vectors")
		}
	}
	return problems, nil
}

// salvage puts a copy of every readable item in place of a damaged
// database (store.DB.SalvageInPlace, which keeps the damaged file) and
// rebuilds the index.
func (e *Engine) salvage() ([]string, error) {
	rep, err := e.db.SalvageInPlace()
	if err != nil {
		return nil, err
	}
	out := append(rep.Problems, SalvageSummary(rep))
	if err := e.rebuildIndex(); err != nil {
		return out, err
	}
	return append(out, "repaired: index rebuilt from the stored vectors"), nil
}

// SalvageSummary says in one line what a salvage did.
func SalvageSummary(rep store.SalvageReport) string {
	return fmt.Sprintf("repaired: %d items salvaged into a new database, %d damaged records or runs of records lost; the damaged file is kept as %s", rep.Items, rep.Lost, rep.Kept)
}

// firstN returns up to n of s, with "..." when there were more.
func firstN(s []string, n int) []string {
	if len(s) <= n {
		return s
	}
	return append(s[:n:n], "...")
}
