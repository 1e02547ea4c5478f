// Package dedup finds exact and near-duplicate photos among stored items,
// picks a keeper per group, and acts on the other copies safely: dry runs,
// content-hash checks right before each change, a journal, and undo.
//
// Grouping does not chain. Items are visited best keeper first (Policy);
// each item not yet grouped becomes a keeper and takes every ungrouped
// item with its content hash (Exact) or a cosine to it of at least the
// threshold (Near). A~B and B~C therefore never join A and C unless A~C.
//
// A Policy is a list of keeper rules ("pixels,taken,oldest,bytes", the
// Default, keeps the original of edited copies); each group says which
// rule made its keeper win (Group.KeeperReason). Files under
// Options.References are keepers first and, as members, Protected: Act
// never touches them. A camera raw file never becomes a copy of its own
// JPEG.
//
// Actions (Act): Report does nothing; Move moves copies under a folder,
// keeping their path below their root; Hardlink replaces exact copies by
// hard links to the keeper; Delete moves copies into the run's trash next
// to the journal, so that Undo can bring them back. Without ActOptions.Yes
// every action only says what it would do.
//
// The engine (simsearch.Engine.Duplicates and ActOnDuplicates) feeds it
// the stored items, their vectors and the HNSW index; Example shows the
// same with a Flat index over vectors in memory. Act and Undo take a
// journal directory (the engine's is beside its database):
//
//	out, err := dedup.Act(groups, &dedup.ActOptions{
//		Action: dedup.Move, To: "dupes", Roots: roots,
//		JournalDir: "photos.db.journal", Yes: true,
//	}, os.Stderr)
//	...
//	res, err := dedup.Undo("photos.db.journal", os.Stderr) // puts them back
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
