// Package dedup finds exact and near-duplicate photos among stored items,
// picks a keeper per group, and acts on the other copies safely: dry runs,
// content-hash checks right before each change, a journal, and undo.
//
// Grouping does not chain. Items are visited best keeper first (Policy);
// each item not yet grouped becomes a keeper and takes every ungrouped
// item with its content hash (Exact) or a cosine to it of at least the
// threshold (Near). A~B and B~C therefore never join A and C unless A~C.
//
// Actions (Act): Report does nothing; Move moves copies under a folder,
// keeping their path below their root; Hardlink replaces exact copies by
// hard links to the keeper; Delete moves copies into the run's trash next
// to the journal, so that Undo can bring them back. Without ActOptions.Yes
// every action only says what it would do.
//
// Example:
//
//	items, err := dedup.Items(db, roots)
//	if err != nil {
//		return err
//	}
//	groups, err := dedup.Find(ctx, items, db, idx, &dedup.Options{
//		Threshold: 0.72, Keep: dedup.Largest, Roots: roots,
//	})
//	if err != nil {
//		return err
//	}
//	dedup.WriteReport(os.Stdout, dedup.Table, groups)
//	out, err := dedup.Act(groups, &dedup.ActOptions{
//		Action: dedup.Move, To: "dupes", Roots: roots,
//		JournalDir: db.Path() + ".journal", Yes: true,
//	}, os.Stderr)
//	...
//	res, err := dedup.Undo(db.Path()+".journal", os.Stderr) // puts them back
package dedup
