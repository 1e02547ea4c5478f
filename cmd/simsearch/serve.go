package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/urfave/cli/v3"

	"github.com/simsearch/simsearch"
	"github.com/simsearch/simsearch/dedup"
	"github.com/simsearch/simsearch/web"
)

// minTokenLen keeps a token off a network from being guessed.
const minTokenLen = 16

func serveCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve a web page and a JSON API: search by dropping a photo, browse, review duplicates",
		Description: "The page and the API (/api/v1/, see the README) read the database the way `query` does, so\n" +
			"serve runs beside `index`; it takes the writer lock only to record or forget a decision, apply a\n" +
			"plan or undo a run. It answers only loopback names unless --token is given, which every request\n" +
			"must then carry (open the URL it prints: it sets a cookie). Moved copies go under --move-to;\n" +
			"thumbnails are kept beside the database in DB.thumbs/ (1 GiB at most, the oldest removed first),\n" +
			"or where --thumbnails says; --thumbnails off keeps them in memory only and writes nothing.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "listen on `HOST:PORT` (off loopback, --token is required)"},
			&cli.StringFlag{Name: "token", Usage: "`TOKEN` every request must carry, at least 16 characters (default $SIMSEARCH_TOKEN)"},
			&cli.StringFlag{Name: "move-to", Usage: "`DIR` the move action puts copies under (default: the database's path with .moved added)"},
			&cli.StringFlag{Name: "thumbnails", Usage: "`DIR` to keep thumbnails in across restarts, or off for memory only (default: the database's path with .thumbs added)"},
		},
		Action: func(ctx context.Context, c *cli.Command) error { return e.serve(ctx, c) },
	}
}

func (e *env) serve(ctx context.Context, c *cli.Command) error {
	if c.Args().Len() > 0 {
		return usagef("serve takes no arguments")
	}
	addr := c.String("addr")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usagef("--addr %q: want HOST:PORT, such as 127.0.0.1:8080", addr)
	}
	token := c.String("token")
	if token == "" {
		token = e.getenv("SIMSEARCH_TOKEN")
	}
	switch {
	case token != "" && len(token) < minTokenLen:
		return usagef("--token: at least %d characters (`openssl rand -hex 16` makes one)", minTokenLen)
	case token == "" && !web.IsLoopback(addr):
		return usagef("--addr %s is not a loopback address: add --token TOKEN (or set SIMSEARCH_TOKEN), which every request must then carry", addr)
	}
	eng, err := e.openEngine(ctx, c, queryEngine)
	if err != nil {
		return err
	}
	defer eng.Close()
	wo, err := e.engineOptions(c, writeEngine)
	if err != nil {
		return err
	}
	if m, _ := eng.Model(); m != nil {
		wo.Model = m // one session for queries and writes
	}
	wo.Log = io.Discard // the read engine said at start what there is to say
	thumbDir, thumbDisk := c.String("thumbnails"), int64(0)
	if thumbDir == "off" {
		thumbDir, thumbDisk = "", -1 // memory only
	}
	h, err := web.New(eng.Engine, &web.Options{
		Token:         token,
		MoveTo:        c.String("move-to"),
		ThumbnailDir:  thumbDir,
		ThumbnailDisk: thumbDisk,
		HomeTrash:     dedup.HomeTrash(e.getenv),
		OpenWriter: func(ctx context.Context) (*simsearch.Engine, error) {
			return simsearch.Open(ctx, wo)
		},
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		WriteTimeout:      35 * time.Minute, // above the handler's own bound on apply and undo
		IdleTimeout:       2 * time.Minute,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	link := "http://" + ln.Addr().String() + "/"
	if token != "" {
		link += "login?token=" + url.QueryEscape(token)
	}
	fmt.Fprintf(e.stdout, "serving %s at %s\n", eng.Path(), link)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	// Requests under way finish (a dedup apply stops before its next
	// file when its own time is up); new ones are refused.
	stop, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = srv.Shutdown(stop)
	if errors.Is(err, context.DeadlineExceeded) {
		err = srv.Close()
	}
	if err != nil {
		return fmt.Errorf("interrupted; stopping the server: %w", err)
	}
	return errors.New("interrupted; the server stopped after its last requests")
}
