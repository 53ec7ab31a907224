package main

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate"
)

// The network the tool asks after a move, unless told otherwise: the
// Bluesky relay and the public Bluesky AppView.
const (
	defaultRelay   = "https://bsky.network"
	defaultAppView = "https://public.api.bsky.app"
	// noneWord turns --relay or --appview off.
	noneWord = "none"
)

// networkFlags are --relay, --relay-wait and --appview; wait is false for
// the commands that only read what the relays show now (verify, status,
// watch).
func networkFlags(wait bool) []cli.Flag {
	flags := []cli.Flag{
		&cli.StringSliceFlag{Name: "relay", Usage: "relay asked whether it sees the account at the new PDS (repeatable; none: ask no relay)",
			Value: cli.NewStringSlice(defaultRelay), EnvVars: []string{"ATMIGRATE_RELAY"}},
		&cli.StringFlag{Name: "appview", Usage: "AppView asked which handle it shows for the account (none: ask none)",
			Value: defaultAppView, EnvVars: []string{"ATMIGRATE_APPVIEW"}},
	}
	if wait {
		flags = append(flags, &cli.DurationFlag{Name: "relay-wait", Usage: "how long to wait for each relay to show the account at the new PDS's latest commit",
			Value: migrate.DefaultRelayWait})
	}
	return flags
}

// relaysFrom is --relay: the relay URLs, none for "none".
func relaysFrom(c *cli.Context) ([]string, error) {
	var out []string
	for _, v := range c.StringSlice("relay") {
		for _, r := range strings.Split(v, ",") {
			r = strings.TrimSpace(r)
			switch {
			case r == "":
			case strings.EqualFold(r, noneWord):
				return nil, nil
			default:
				u, err := serviceURL("--relay", r, defaultRelay)
				if err != nil {
					return nil, err
				}
				out = append(out, u)
			}
		}
	}
	return out, nil
}

// appViewFrom is --appview: its URL, "" for "none".
func appViewFrom(c *cli.Context) (string, error) {
	v := strings.TrimSpace(c.String("appview"))
	if v == "" || strings.EqualFold(v, noneWord) {
		return "", nil
	}
	return serviceURL("--appview", v, defaultAppView)
}

// relayWaitFrom is --relay-wait.
func relayWaitFrom(c *cli.Context) (time.Duration, error) {
	d := c.Duration("relay-wait")
	if d < 0 {
		return 0, usageError{"--relay-wait must not be negative", "give a duration like 60s or 2m"}
	}
	return d, nil
}

// serviceURL checks a relay's or an AppView's URL: scheme and host, no
// path (the XRPC paths are added to it).
func serviceURL(flag, v, example string) (string, error) {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return "", usageError{fmt.Sprintf("%s %q is not a URL", flag, v), fmt.Sprintf("give its base URL with the scheme, like %s, or %s %s", example, flag, noneWord)}
	}
	return strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/"), nil
}
