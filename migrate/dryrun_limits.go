package migrate

import (
	"fmt"

	"github.com/atmigrate/atmigrate/internal/units"
	"github.com/atmigrate/atmigrate/migrate/checkpoint"
	"github.com/atmigrate/atmigrate/migrate/failure"
	"github.com/atmigrate/atmigrate/migrate/transfer"
)

// DryRunLimits is what the new PDS accepts, against what the export needs.
type DryRunLimits struct {
	// BlobUploadLimit is the new PDS's reported upload limit (0: not
	// reported; PDS 0.4.x never says).
	BlobUploadLimit int64 `json:"blobUploadLimit"`
	// Oversized are the blobs over it: refused before the account is
	// created, or left behind with --skip-oversized-blobs.
	Oversized []checkpoint.LeftBlob `json:"oversized,omitempty"`
	// RepoBytes is the repo's size; ImportLimitKnown is false because no
	// PDS reports its import limit (the reference PDS's defaults to the
	// upload limit).
	RepoBytes        int64 `json:"repoBytes"`
	ImportLimitKnown bool  `json:"importLimitKnown"`
}

// DryRunRateLimits is the move's rate-limited calls against the limits the
// new PDS's answers revealed.
type DryRunRateLimits struct {
	// Seen is true when the new PDS sent RateLimit headers (its limits are
	// on, and no bypass key lifted them); Global is what they said.
	Seen   bool   `json:"seen"`
	Global string `json:"global,omitempty"`
	// BypassKey is true when --ratelimit-bypass-key is sent.
	BypassKey bool `json:"bypassKey"`
	// Uploads is the uploadBlob calls the move needs, and UploadsPerDay
	// the reference PDS's limit on them when its rate limits are on.
	Uploads       int `json:"uploads"`
	UploadsPerDay int `json:"uploadsPerDay"`
	// Days is how many daily windows the uploads need (1 when they fit).
	Days int `json:"days"`
}

// referenceUploadsPerDay is the reference PDS's uploadBlob limit with rate
// limits on: 1,000 a day. A route's own limit is only revealed by calling
// it, so the dry run takes the reference PDS's.
const referenceUploadsPerDay = 1000

// reportLimits gives the figures of the new PDS's limits against the
// export (afterExport acted on them), and forecasts the uploads against
// its rate limits.
func (rep *reporter) reportLimits(r *DryRunReport) {
	limits, refs := rep.data.sizeLimits(), rep.data.blobList().Refs()
	l := &r.Limits
	l.BlobUploadLimit, l.RepoBytes = limits.Upload, r.Repo.Bytes
	for _, b := range transfer.Oversized(refs, l.BlobUploadLimit) {
		l.Oversized = append(l.Oversized, checkpoint.LeftBlob{CID: b.CID, Size: b.Size, MimeType: b.MimeType, Limit: l.BlobUploadLimit})
	}
	if l.BlobUploadLimit == 0 && r.Blobs.Largest > 0 {
		r.unknown("%s's blob upload limit: it does not report one (PDS 0.4.x never does); a blob it refuses as too large stops the run at the blobs stage (the largest here is %s)", rep.opts.NewPDS, units.HumanBytes(r.Blobs.Largest))
	}

	rl := &r.RateLimits
	rl.BypassKey = rep.opts.NewPDSHeaders.Get("X-Ratelimit-Bypass") != ""
	rl.Uploads = len(limits.Movable(refs))
	rl.UploadsPerDay = referenceUploadsPerDay
	rl.Days = 1 + max(rl.Uploads-1, 0)/referenceUploadsPerDay
	if g := rep.world.New.RateLimit; g != nil {
		rl.Seen = true
		rl.Global = fmt.Sprintf("%d requests a %s per client (%d left)", g.Limit, failure.WindowWords(g.Window), g.Remaining)
	}
	switch {
	case rl.Uploads <= referenceUploadsPerDay:
	case rl.BypassKey:
	case rl.Seen:
		r.warn("the move needs %d blob uploads, and %s has its rate limits on (the reference PDS allows %d uploads a day): the run will stop at the limit and the same command continues after each reset, about %d days in all, unless its admin's {ratelimit-bypass-key} is given",
			rl.Uploads, rep.opts.NewPDS, referenceUploadsPerDay, rl.Days)
	default:
		r.unknown("whether %s limits blob uploads: it sent no rate-limit headers (its limits are off, or it does not say); with the reference PDS's limits on, %d uploads would take %d days (%d a day)",
			rep.opts.NewPDS, rl.Uploads, rl.Days, referenceUploadsPerDay)
	}
}
