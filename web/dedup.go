package web

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
)

// groupsKey is what a set of duplicate groups was found with.
type groupsKey struct {
	threshold float32
	keep      dedup.Policy
}

// groupSet is one FindDuplicates result, each group known by its keeper's
// id as found (the page's keeper changes are relative to it).
type groupSet struct {
	groups   []dedup.Group
	setAside int
	byID     map[uint64]int
	version  uint64 // the items version they were found at
}

// dupParams are the parameters that choose a set of groups, from a query
// string or a JSON body.
type dupParams struct {
	Threshold float32 `json:"threshold"`
	Keep      string  `json:"keep"`
}

func (p dupParams) key() (groupsKey, error) {
	if p.Threshold < 0 || p.Threshold > 1 {
		return groupsKey{}, errorf(http.StatusBadRequest, "threshold %v: want a number from 0 to 1", p.Threshold)
	}
	if strings.Contains(p.Keep, "/") || strings.Contains(p.Keep, `\`) || strings.Contains(p.Keep, "..") {
		return groupsKey{}, errorf(http.StatusBadRequest, "keep %q: no paths here (path: rules are for the command line)", p.Keep)
	}
	keep := dedup.Default
	if p.Keep != "" {
		var err error
		if keep, err = dedup.ParsePolicy(p.Keep); err != nil {
			return groupsKey{}, errorf(http.StatusBadRequest, "keep: %v", err)
		}
	}
	return groupsKey{threshold: p.Threshold, keep: keep}, nil
}

// groupSet returns the groups for k, finding them unless they are known
// from before the last change. Call with wmu held.
func (h *Handler) groupSet(ctx context.Context, k groupsKey, refresh bool) (*groupSet, error) {
	version, err := h.refresh()
	if err != nil {
		return nil, err
	}
	if gs, ok := h.groups[k]; ok && !refresh && gs.version == version {
		return gs, nil
	}
	res, err := h.eng.FindDuplicates(ctx, nil, &simsearch.DedupOptions{Threshold: k.threshold, Keep: k.keep})
	if err != nil {
		return nil, err
	}
	gs := &groupSet{groups: res.Groups, setAside: res.SetAside, byID: map[uint64]int{}, version: version}
	for i, g := range res.Groups {
		gs.byID[g.Keeper.ID] = i
	}
	h.groups[k] = gs
	return gs, nil
}

// changed forgets what a write made stale. Call with wmu held.
func (h *Handler) changed() {
	clear(h.groups)
	h.plans.clear()
}

type groupJSON struct {
	// ID names the group in plan and decision requests: its keeper's item
	// id as found, whichever keeper the page then chooses.
	ID uint64 `json:"id"`
	dedup.Group
}

func (h *Handler) duplicates(w http.ResponseWriter, r *http.Request) error {
	th, err := scoreParam(r, "threshold")
	if err != nil {
		return err
	}
	k, err := dupParams{Threshold: th, Keep: r.URL.Query().Get("keep")}.key()
	if err != nil {
		return err
	}
	offset, err := intParam(r, "offset", 0, 0, 1<<31-1)
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 50, 1, maxPage)
	if err != nil {
		return err
	}
	h.wmu.Lock()
	gs, err := h.groupSet(r.Context(), k, r.URL.Query().Get("refresh") == "1")
	h.wmu.Unlock()
	if err != nil {
		return err
	}
	page := []groupJSON{}
	for i := offset; i < len(gs.groups) && i < offset+limit; i++ {
		g := gs.groups[i]
		if g.Members == nil {
			g.Members = []dedup.Member{}
		}
		page = append(page, groupJSON{ID: g.Keeper.ID, Group: g})
	}
	threshold := k.threshold
	if threshold == 0 {
		threshold = h.eng.Threshold()
	}
	return writeJSON(w, http.StatusOK, map[string]any{
		"groups": page, "total": len(gs.groups), "offset": offset, "set_aside": gs.setAside,
		"threshold": threshold, "keep": k.keep,
	})
}

// readBody decodes a JSON request body into v, refusing unknown fields
// and more than 1 MiB.
func readBody(w http.ResponseWriter, r *http.Request, v any) error {
	ct, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || ct != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, "want a JSON body (Content-Type: application/json)")
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return errorf(http.StatusRequestEntityTooLarge, "body over %d bytes", tooBig.Limit)
		}
		return errorf(http.StatusBadRequest, "body: %v", err)
	}
	if dec.More() {
		return errorf(http.StatusBadRequest, "body: more than one JSON value")
	}
	return nil
}

// planRequest asks for a plan over the groups found with dupParams: every
// group but those in Skip, each with the keeper Keepers gives (by the
// group's id) or the one found.
type planRequest struct {
	dupParams
	Action  string            `json:"action"` // move or delete
	Keepers map[string]uint64 `json:"keepers"`
	Skip    []uint64          `json:"skip"`
}

type planAnswer struct {
	Plan   string               `json:"plan"` // what apply takes
	Action dedup.Action         `json:"action"`
	To     string               `json:"to,omitempty"`
	Groups int                  `json:"groups"`
	Counts map[dedup.Action]int `json:"counts"`
	dedup.Outcome
	Log []string `json:"log"`
}

// plan makes the plan the request asks for and answers its dry run; apply
// carries out exactly that plan.
func (h *Handler) plan(w http.ResponseWriter, r *http.Request) error {
	var req planRequest
	if err := readBody(w, r, &req); err != nil {
		return err
	}
	action, err := dedup.ParseAction(req.Action)
	if err != nil || (action != dedup.Move && action != dedup.Delete) {
		return errorf(http.StatusBadRequest, "action %q: want move or delete", req.Action)
	}
	k, err := req.key()
	if err != nil {
		return err
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	gs, err := h.groupSet(r.Context(), k, false)
	if err != nil {
		return err
	}
	p, err := h.makePlan(gs, &req, action)
	if err != nil {
		return err
	}
	var log bytes.Buffer
	out, err := h.eng.ApplyPlan(r.Context(), p, dedup.ApplyOptions{HomeTrash: h.opts.HomeTrash}, &log)
	if err != nil {
		return err
	}
	id := h.plans.add(p)
	if out.Steps == nil {
		out.Steps = []dedup.Step{}
	}
	return writeJSON(w, http.StatusOK, planAnswer{Plan: id, Action: action, To: p.To, Groups: len(p.Groups),
		Counts: p.Counts(), Outcome: out, Log: lines(&log)})
}

// makePlan is the plan for gs as req says.
func (h *Handler) makePlan(gs *groupSet, req *planRequest, action dedup.Action) (*dedup.Plan, error) {
	skip := map[uint64]bool{}
	for _, id := range req.Skip {
		if _, ok := gs.byID[id]; !ok {
			return nil, errorf(http.StatusNotFound, "skip: no group %d (reload the duplicates)", id)
		}
		skip[id] = true
	}
	keepers := map[uint64]uint64{}
	for s, keeper := range req.Keepers {
		id, err := parseID("group", s)
		if err != nil {
			return nil, err
		}
		if _, ok := gs.byID[id]; !ok {
			return nil, errorf(http.StatusNotFound, "keepers: no group %d (reload the duplicates)", id)
		}
		keepers[id] = keeper
	}
	var groups []dedup.Group
	for _, g := range gs.groups {
		if !skip[g.Keeper.ID] {
			groups = append(groups, g)
		}
	}
	if len(groups) == 0 {
		return nil, errorf(http.StatusBadRequest, "no groups to act on")
	}
	opts := dedup.ActOptions{Action: action, HomeTrash: h.opts.HomeTrash}
	if action == dedup.Move {
		opts.To = h.opts.MoveTo
	}
	p, err := h.eng.PlanDuplicates(groups, opts)
	if err != nil {
		return nil, err
	}
	for i, g := range groups {
		keeper, ok := keepers[g.Keeper.ID]
		if !ok || keeper == g.Keeper.ID {
			continue
		}
		pg := &p.Groups[i]
		j := -1
		for mi, m := range g.Members {
			if m.ID == keeper {
				j = mi
			}
		}
		if j < 0 {
			return nil, errorf(http.StatusBadRequest, "keepers: item %d is not in group %d", keeper, g.Keeper.ID)
		}
		if g.Members[j].Protected != pg.Members[j].Protected || pg.Members[j].Path != g.Members[j].Path {
			return nil, fmt.Errorf("plan of group %d does not follow its group", g.Keeper.ID)
		}
		// As a person edits a plan: swap the two objects; the keeper acts
		// on nothing, the old keeper gets the action.
		old, chosen := pg.Keeper, pg.Members[j]
		old.Action, old.Score, old.Reason = action, chosen.Score, chosen.Reason
		chosen.Action, chosen.Score, chosen.Reason = "", 0, ""
		pg.Keeper, pg.Members[j] = chosen, old
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// writer opens the database for writing, or says why not.
func (h *Handler) writer(ctx context.Context) (*simsearch.Engine, error) {
	if h.opts.OpenWriter == nil {
		return nil, errorf(http.StatusForbidden, "this server is read-only")
	}
	eng, err := h.opts.OpenWriter(ctx)
	if errors.Is(err, simsearch.ErrLocked) {
		return nil, errorf(http.StatusConflict, "%v: another simsearch process (an index run?) is writing; try again when it is done", err)
	}
	return eng, err
}

type applyRequest struct {
	Plan string `json:"plan"`
}

type applyAnswer struct {
	dedup.Outcome
	Log []string `json:"log"`
}

// apply carries out a plan that plan answered (once).
func (h *Handler) apply(w http.ResponseWriter, r *http.Request) error {
	var req applyRequest
	if err := readBody(w, r, &req); err != nil {
		return err
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	p, ok := h.plans.get(req.Plan)
	if !ok {
		return errorf(http.StatusNotFound, "plan %q: unknown or already applied; make a new dry run", req.Plan)
	}
	eng, err := h.writer(r.Context())
	if err != nil {
		return err // the plan stays, to try again
	}
	h.plans.take(req.Plan)
	var log bytes.Buffer
	out, err := eng.ApplyPlan(r.Context(), p, dedup.ApplyOptions{HomeTrash: h.opts.HomeTrash, Yes: true}, &log)
	err = errors.Join(err, eng.Close())
	h.changed()
	if err != nil {
		return err
	}
	if out.Steps == nil {
		out.Steps = []dedup.Step{}
	}
	if out.Changed == nil {
		out.Changed = []string{}
	}
	return writeJSON(w, http.StatusOK, applyAnswer{Outcome: out, Log: lines(&log)})
}

type undoRequest struct {
	Run string `json:"run"` // "" means the newest that can be undone
}

// undo reverses a dedup run.
func (h *Handler) undo(w http.ResponseWriter, r *http.Request) error {
	var req undoRequest
	if err := readBody(w, r, &req); err != nil {
		return err
	}
	// A run id is a time (20261201T184050.193490608Z) or a prefix of one:
	// never a path.
	for _, c := range req.Run {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-' || c == '_' || c == '.') || strings.Contains(req.Run, "..") {
			return errorf(http.StatusBadRequest, "run %q: want a run id from /api/v1/runs", req.Run)
		}
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	eng, err := h.writer(r.Context())
	if err != nil {
		return err
	}
	var log bytes.Buffer
	res, err := eng.UndoRun(r.Context(), req.Run, &log)
	indexed := ""
	if err == nil && len(res.Restored) > 0 {
		// Back in the database too, so that the page shows them again
		// without a trip to the terminal.
		sum, ierr := eng.Index(r.Context(), res.Restored, nil)
		if ierr != nil {
			indexed = fmt.Sprintf("not indexed again (%v): `simsearch index` adds them back", ierr)
		} else {
			indexed = fmt.Sprintf("indexed again: %d added, %d skipped", sum.Added+sum.Updated, len(sum.Skipped))
		}
	}
	err = errors.Join(err, eng.Close())
	h.changed()
	if err != nil {
		return err
	}
	if res.Restored == nil {
		res.Restored = []string{}
	}
	if res.Problems == nil {
		res.Problems = []string{}
	}
	return writeJSON(w, http.StatusOK, struct {
		dedup.UndoResult
		Indexed string   `json:"indexed,omitempty"` // what indexing the restored files again did
		Log     []string `json:"log"`
	}{res, indexed, lines(&log)})
}

func (h *Handler) runs(w http.ResponseWriter, r *http.Request) error {
	runs, err := h.eng.DuplicateRuns()
	if err != nil {
		return err
	}
	if runs == nil {
		runs = []dedup.Run{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"runs": runs})
}

func (h *Handler) decisions(w http.ResponseWriter, r *http.Request) error {
	ds, err := h.eng.Decisions()
	if err != nil {
		return err
	}
	if ds == nil {
		ds = []simsearch.Decision{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"decisions": ds})
}

type decideRequest struct {
	dupParams
	Kind  string `json:"kind"`  // ignore (not duplicates) or keep (keep both)
	Group uint64 `json:"group"` // the group's id
}

// decide records a decision about every file of one group.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request) error {
	var req decideRequest
	if err := readBody(w, r, &req); err != nil {
		return err
	}
	kind := simsearch.DecisionKind(req.Kind)
	if kind != simsearch.NotDuplicates && kind != simsearch.KeepAll {
		return errorf(http.StatusBadRequest, "kind %q: want ignore (not duplicates) or keep (keep all)", req.Kind)
	}
	k, err := req.key()
	if err != nil {
		return err
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	gs, err := h.groupSet(r.Context(), k, false)
	if err != nil {
		return err
	}
	i, ok := gs.byID[req.Group]
	if !ok {
		return errorf(http.StatusNotFound, "group %d: not among the duplicates found (reload them)", req.Group)
	}
	eng, err := h.writer(r.Context())
	if err != nil {
		return err
	}
	d, err := eng.DecideGroup(kind, gs.groups[i])
	err = errors.Join(err, eng.Close())
	h.changed()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// forget removes a stored decision ("not duplicates" or "keep all"): its
// files are grouped again by the next listing. It answers the decision as
// it was.
func (h *Handler) forget(w http.ResponseWriter, r *http.Request) error {
	s := r.PathValue("id")
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return errorf(http.StatusBadRequest, "decision %q: want a decision id from /api/v1/decisions (a positive number)", s)
	}
	h.wmu.Lock()
	defer h.wmu.Unlock()
	eng, err := h.writer(r.Context())
	if err != nil {
		return err
	}
	d, err := eng.Forget(id)
	err = errors.Join(err, eng.Close())
	h.changed()
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, d)
}

// lines splits a log into its lines.
func lines(b *bytes.Buffer) []string {
	s := strings.TrimRight(b.String(), "\n")
	if s == "" {
		return []string{}
	}
	return strings.Split(s, "\n")
}

// planStore keeps the plans of the last dry runs for apply, at most n.
type planStore struct {
	mu    sync.Mutex
	n     int
	order []string
	plans map[string]*dedup.Plan
}

func newPlanStore(n int) *planStore { return &planStore{n: n, plans: map[string]*dedup.Plan{}} }

func (s *planStore) add(p *dedup.Plan) string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail
	id := hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.plans[id] = p
	s.order = append(s.order, id)
	for len(s.order) > s.n {
		delete(s.plans, s.order[0])
		s.order = s.order[1:]
	}
	return id
}

func (s *planStore) get(id string) (*dedup.Plan, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.plans[id]
	return p, ok
}

func (s *planStore) take(id string) (*dedup.Plan, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.plans[id]
	delete(s.plans, id)
	return p, ok
}

func (s *planStore) clear() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.plans)
	s.order = s.order[:0]
}
