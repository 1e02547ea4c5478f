// Package dedup finds exact and near-duplicate photos among stored items,
// picks a keeper per group, and acts on the other copies safely: plans to
// review and edit, dry runs, size, time and content-hash checks right
// before each change, a journal, undo of any run, and a trash that frees
// space when it is purged.
//
// Grouping does not chain. Items are visited best keeper first (Policy);
// each item not yet grouped becomes a keeper and takes every ungrouped
// item with its content hash (Exact) or a cosine to it of at least the
// threshold (Near). A~B and B~C therefore never join A and C unless A~C.
// Find takes the near pairs from an index in this process; FindNear from
// any Neighbourer, such as a server database that searches its own index
// so that the vectors never leave it.
//
// A Policy is a list of keeper rules ("pixels,taken,oldest,bytes", the
// Default, keeps the original of edited copies); each group says which
// rule made its keeper win (Group.KeeperReason). Files under
// Options.References are keepers first and, as members, Protected: Act
// never touches them. A camera raw file never becomes a copy of its own
// JPEG or HEIF, nor that file a copy of the raw one: in their group the
// sibling is a Pair, and a plan keeps it.
//
// Actions: Report does nothing; Move moves copies under a folder, keeping
// their path below their root; Hardlink replaces exact copies by hard
// links to the keeper; Delete moves copies into the freedesktop.org trash
// of their own file system (the home trash, or $topdir/.Trash-$uid), where
// a file manager sees them, Undo can bring them back and Purge removes
// them for good. Without Yes every action only says what it would do.
//
// A Plan (NewPlan, WritePlan, ReadPlan) is the same decisions as JSON:
// each group's keeper and each member's action, with the size, time and
// hash of every file. Edit it (swap a keeper, drop a group, keep a file),
// then Apply carries out exactly that, refusing the files that changed
// since. Act is Apply of the plan for one action.
//
// The engine (simsearch.Engine.Duplicates, PlanDuplicates, ApplyPlan and
// ActOnDuplicates) feeds it the stored items, their vectors and the HNSW
// index; Example shows the same with a Flat index over vectors in memory.
// Runs are journalled in a folder (the engine's is beside its database):
//
//	p, err := dedup.NewPlan(groups, &dedup.ActOptions{Action: dedup.Delete})
//	...
//	err = dedup.WritePlan(f, p) // a person edits f, then
//	p, err = dedup.ReadPlan(f)
//	out, err := dedup.Apply(ctx, p, &dedup.ApplyOptions{JournalDir: "photos.db.journal", Yes: true}, os.Stderr)
//	...
//	runs, err := dedup.Runs("photos.db.journal")
//	res, err := dedup.UndoRun(ctx, "photos.db.journal", runs[0].ID, os.Stderr) // any run, in any order
//	pr, err := dedup.Purge(ctx, "photos.db.journal", &dedup.PurgeOptions{OlderThan: 30 * 24 * time.Hour, Yes: true}, os.Stderr)
//
// Reports (WriteReport) are a table, JSON or CSV for scripts, or HTML for
// people. WriteHTMLFile writes the HTML report for a library of any size:
// the page at its path, thumbnails named by content hash in the folder
// beside it (FilesDir: "dupes.html" and "dupes_files/"), reused by the
// next report, and DefaultPerPage groups a page:
//
//	err := dedup.WriteHTMLFile(ctx, "dupes.html", groups, &dedup.HTMLOptions{
//		Decode: simsearch.DecodeThumbnail, Progress: func(done, total int) { ... },
//	})
package dedup
