// Command relayhosts adds hosts to the database of indigo's relay
// (cmd/relay), the way the relay's own `pull-hosts` command does for public
// hosts, so that the relay subscribes to them at its next start.
//
// The local network needs it because the relay refuses to add a loopback
// PDS while it runs: requestCrawl, public or admin, first calls the host's
// describeServer through a transport that only dials public addresses.
// ResubscribeAllHosts, at start, subscribes to every `active` row of the
// host table, localhost:<port> included (ws://, since no_ssl).
//
//	relayhosts --db-url sqlite:///path/relay.sqlite --account-limit 100 localhost:2583 ...
//
// The relay must not be running: sqlite has one writer and the relay caches
// hosts. This module also pins the relay itself (the tool line in go.mod), at
// the indigo version of the root module; `make localnet-relay` builds both.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/bluesky-social/indigo/atproto/identity"
	"github.com/bluesky-social/indigo/cmd/relay/relay"
	"github.com/bluesky-social/indigo/cmd/relay/relay/models"
	"github.com/bluesky-social/indigo/util/cliutil"
)

func main() {
	dbURL := flag.String("db-url", "", "the relay's database, as its --db-url (sqlite://PATH)")
	limit := flag.Int64("account-limit", 100, "the hosts' account limit")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: relayhosts --db-url URL [--account-limit N] HOSTNAME...")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *dbURL == "" || flag.NArg() == 0 || *limit < 0 {
		flag.Usage()
		os.Exit(2)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err := run(context.Background(), *dbURL, *limit, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "relayhosts:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, dbURL string, limit int64, hostnames []string) error {
	db, err := cliutil.SetupDatabase(dbURL, 1)
	if err != nil {
		return err
	}
	// NewRelay creates or migrates the schema, as the relay does at start;
	// with no event manager it subscribes to nothing (as in pull-hosts).
	r, err := relay.NewRelay(db, nil, identity.DefaultDirectory(), relay.DefaultRelayConfig())
	if err != nil {
		return err
	}
	for _, raw := range hostnames {
		hostname, noSSL, err := relay.ParseHostname(raw)
		if err != nil {
			return fmt.Errorf("%s: %w", raw, err)
		}
		existing, err := r.GetHost(ctx, hostname)
		switch {
		case errors.Is(err, relay.ErrHostNotFound):
			// last_seq takes its default, -1: no cursor, so the relay
			// subscribes from the host's live stream.
			host := models.Host{
				Hostname:     hostname,
				NoSSL:        noSSL,
				Status:       models.HostStatusActive,
				AccountLimit: limit,
			}
			if err := db.WithContext(ctx).Create(&host).Error; err != nil {
				return fmt.Errorf("%s: %w", hostname, err)
			}
			fmt.Printf("%s: added\n", hostname)
		case err != nil:
			return fmt.Errorf("%s: %w", hostname, err)
		default:
			if existing.Status != models.HostStatusActive {
				if err := r.UpdateHostStatus(ctx, existing.ID, models.HostStatusActive); err != nil {
					return fmt.Errorf("%s: %w", hostname, err)
				}
			}
			if existing.AccountLimit != limit {
				if err := r.UpdateHostAccountLimit(ctx, existing.ID, limit); err != nil {
					return fmt.Errorf("%s: %w", hostname, err)
				}
			}
			fmt.Printf("%s: exists\n", hostname)
		}
	}
	return nil
}
