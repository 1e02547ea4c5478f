// Package web provides simsearch's JSON API and its web page as one
// http.Handler, for `simsearch serve` or a Go program's own server.
//
// The handler answers under /api/v1/: queries by an uploaded photo or by
// a stored item's id, a paged list of items, thumbnails, stats, duplicate
// groups with their keepers, dedup plans (dry runs), apply and undo, and
// the decisions "not duplicates" and "keep both" (recorded, listed and
// forgotten). /healthz says it is up;
// everything else is the embedded page (plain HTML, CSS and JavaScript).
//
// It reads through an engine opened read-only, so it runs beside `simsearch
// index`, and takes the writer lock (Options.OpenWriter) only while it
// records or forgets a decision, applies a plan or undoes a run. The
// database file stays open between requests until a writer takes the
// lock (Engine.KeepOpen), and thumbnails are kept in memory and in a
// folder beside the database (Options.ThumbnailDir). Only photos the
// database knows are ever read, named by id: no request parameter is a
// path. Uploads are capped in bytes and decoded with indexing's limits.
//
//	eng, err := simsearch.Open(ctx, &simsearch.Options{DB: "photos.db", ReadOnly: true, Warm: true})
//	...
//	m, _ := eng.Model() // one session for reads and writes
//	h, err := web.New(eng, &web.Options{OpenWriter: func(ctx context.Context) (*simsearch.Engine, error) {
//		return simsearch.Open(ctx, &simsearch.Options{DB: "photos.db", Model: m})
//	}})
//	...
//	err = http.ListenAndServe("127.0.0.1:8080", h)
//
// With Options.Token set (required by `simsearch serve` off loopback),
// every request carries it: an Authorization: Bearer header, or the
// cookie that /login?token=... sets. Without it, only requests whose Host
// is a loopback name are answered, which stops a page elsewhere from
// reaching the server through a DNS name it controls. Requests that change
// anything must be POSTs (or, to forget a decision, a DELETE) from the
// page's own origin.
package web
