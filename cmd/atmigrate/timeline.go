package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/atmigrate/atmigrate/migrate"
	"github.com/atmigrate/atmigrate/migrate/servers"
	"github.com/atmigrate/atmigrate/migrate/timeline"
)

// timelineFlag is migrate's --timeline FILE.
var timelineFlag = &cli.StringFlag{Name: "timeline", Usage: "write a picture (SVG) of the run to FILE: its stages, its requests to each server and atmigrate's CPU over time, also when the run stops early; it names no URL, DID, handle or secret (FILE.json: the same events as JSON)"}

// runTimeline is the recording behind --timeline.
type runTimeline struct {
	path    string
	rec     *timeline.Recorder
	stopCPU func()
}

// startTimeline starts recording when --timeline is set: it wraps the
// run's progress and observes its requests. Nil when the flag is unset.
func startTimeline(c *cli.Context, opts *migrate.Options) *runTimeline {
	path := c.String("timeline")
	if path == "" {
		return nil
	}
	rec := timeline.NewRecorder()
	opts.Progress = rec.Progress(opts.Progress)
	opts.Observer = rec.Observe
	return &runTimeline{path: path, rec: rec, stopCPU: rec.SampleCPU(timeline.CPUInterval)}
}

// finish writes the picture of a run that ended with res and err. It never
// fails the run: a file that cannot be written is a warning.
func (t *runTimeline) finish(opts *migrate.Options, res *migrate.Result, err error) {
	if t == nil {
		return
	}
	t.stopCPU()
	t.rec.Stop()
	roles := timeline.Roles{OldPDS: opts.OldPDS, NewPDS: opts.NewPDS, PLC: opts.PLCURL, Relays: opts.Relays, AppView: opts.AppView}
	if res != nil && res.State != nil && roles.OldPDS == "" {
		roles.OldPDS = res.State.OldPDS
	}
	if !isJSONPath(t.path) {
		// The picture names the versions; JSON is for tools that know them
		// (the bench), whose request count must not grow.
		roles.Versions = serverVersions(map[string]string{timeline.RoleOldPDS: roles.OldPDS, timeline.RoleNewPDS: roles.NewPDS})
	}
	tl := t.rec.Timeline("atmigrate "+servers.Version+" migrate: "+outcome(err), roles)
	tl.Title += fmt.Sprintf(" (%.1f s)", tl.Duration)
	if werr := writeTimeline(t.path, tl); werr != nil {
		fmt.Fprintf(os.Stderr, "atmigrate: warning: --timeline: %v\n", werr)
		return
	}
	fmt.Fprintf(os.Stderr, "atmigrate: timeline written to %s\n", t.path)
}

// serverVersions asks each PDS (role → URL) for its version
// (/xrpc/_health), at once and for two seconds at most, outside the
// recording; a server that does not say is left out.
func serverVersions(urls map[string]string) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	out := map[string]string{}
	for role, u := range urls {
		if u == "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, servers.NormalURL(u)+"/xrpc/_health", nil)
			if err != nil {
				return
			}
			req.Header.Set("User-Agent", "atmigrate/"+servers.Version)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				return
			}
			defer resp.Body.Close()
			var h struct {
				Version string `json:"version"`
			}
			if resp.StatusCode == http.StatusOK && json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&h) == nil && h.Version != "" {
				mu.Lock()
				out[role] = "version " + h.Version
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out
}

// outcome says how a run ended without its error's text, which may name
// the account or a server.
func outcome(err error) string {
	switch {
	case err == nil:
		return "done"
	case isAlreadyMigrated(err):
		return "already migrated"
	case isPaused(err):
		return "paused (exit 3)"
	case errors.Is(err, context.Canceled):
		return "interrupted"
	case isInput(err):
		return "stopped: bad input"
	default:
		return "stopped with an error"
	}
}

// isJSONPath says --timeline asks for JSON.
func isJSONPath(path string) bool { return strings.HasSuffix(strings.ToLower(path), ".json") }

// writeTimeline writes tl to path, as JSON when path ends in .json, else
// as SVG, through a temporary file so a failed write leaves no half file.
func writeTimeline(path string, tl *timeline.Timeline) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".timeline-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if isJSONPath(path) {
		enc := json.NewEncoder(f)
		enc.SetIndent("", " ")
		err = enc.Encode(tl)
	} else {
		err = timeline.WriteSVG(f, tl)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
