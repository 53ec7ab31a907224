package localnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/bluesky-social/indigo/api/agnostic"
	comatproto "github.com/bluesky-social/indigo/api/atproto"
	"github.com/bluesky-social/indigo/atproto/atclient"
	"github.com/bluesky-social/indigo/atproto/syntax"
)

// SeedSpec describes an account to create and the content to give it.
type SeedSpec struct {
	// Handle is required; a handle without a dot gets ".test" appended.
	Handle string
	// Email defaults to <handle's first label>@example.com. The PDS needs
	// one to send the PLC operation token.
	Email string
	// Password defaults to DefaultPassword.
	Password string
	// Posts is the number of plain app.bsky.feed.post records.
	Posts int
	// Blobs is the number of image blobs. Each is referenced from its own
	// post (app.bsky.embed.images) so the PDS keeps it; those posts come on
	// top of Posts.
	Blobs int
	// BlobMinBytes and BlobMaxBytes bound each blob's size (defaults
	// 50,000 and 200,000).
	BlobMinBytes, BlobMaxBytes int
	// RecoveryKey is an optional did:key given to createAccount; the PDS
	// puts it first in the DID's rotation keys.
	RecoveryKey string
	// Profile adds app.bsky.actor.profile/self with an avatar blob (one more
	// record and one more blob).
	Profile bool
	// Preferences stores a few preferences, one of them with a $type no
	// lexicon knows, to show that a migration copies them losslessly.
	Preferences bool
	// InviteCode is passed to createAccount (needed when the PDS requires
	// invites; see PDS.CreateInviteCode).
	InviteCode string
}

// DefaultPassword is the password of seeded accounts whose SeedSpec has none.
const DefaultPassword = "localnet-password"

// batchSize is how many writes go into one applyWrites call: the PDS's
// maximum.
const batchSize = 200

// uploadWorkers is how many blobs are uploaded at once. The PDS is a single
// Node thread, so more buys nothing.
const uploadWorkers = 4

// Account is a seeded account.
type Account struct {
	DID, Handle, Email, Password string
	// Records is the number of records the seeding wrote: posts, image
	// posts and the profile.
	Records int
	// Blobs are the CIDs of every blob the seeding uploaded, avatar included.
	Blobs []string
	// PDS is the PDS the account was created on. Tests may point it at the
	// new PDS after a migration; Client, Post and PostWithImage use it.
	PDS *PDS

	session *atclient.APIClient // from createAccount, used while seeding
}

// imageAltPrefix starts the alt text of a seeded image, followed by the
// blob's CID.
const imageAltPrefix = "localnet blob "

// CreateInviteCode creates an invite code on the PDS with the given uses.
func (p *PDS) CreateInviteCode(ctx context.Context, uses int) (string, error) {
	out, err := comatproto.ServerCreateInviteCode(ctx, p.AdminClient(), &comatproto.ServerCreateInviteCode_Input{UseCount: int64(uses)})
	if err != nil {
		return "", fmt.Errorf("localnet: create invite code on %s: %w", p.Name, err)
	}
	return out.Code, nil
}

// CreateAccount creates an account on the PDS and seeds it as spec says.
func (p *PDS) CreateAccount(ctx context.Context, spec SeedSpec) (*Account, error) {
	if spec.Handle == "" {
		return nil, errors.New("localnet: create account: empty handle")
	}
	if !strings.Contains(spec.Handle, ".") {
		spec.Handle += ".test"
	}
	if spec.Email == "" {
		spec.Email = strings.SplitN(spec.Handle, ".", 2)[0] + "@example.com"
	}
	if spec.Password == "" {
		spec.Password = DefaultPassword
	}
	if spec.BlobMinBytes <= 0 {
		spec.BlobMinBytes = 50_000
	}
	if spec.BlobMaxBytes < spec.BlobMinBytes {
		spec.BlobMaxBytes = max(200_000, spec.BlobMinBytes)
	}

	in := &comatproto.ServerCreateAccount_Input{
		Handle:   spec.Handle,
		Email:    &spec.Email,
		Password: &spec.Password,
	}
	if spec.InviteCode != "" {
		in.InviteCode = &spec.InviteCode
	}
	if spec.RecoveryKey != "" {
		in.RecoveryKey = &spec.RecoveryKey
	}
	out, err := comatproto.ServerCreateAccount(ctx, p.NewClient(), in)
	if err != nil {
		return nil, fmt.Errorf("localnet: create account %s on %s: %w", spec.Handle, p.Name, err)
	}
	did, err := syntax.ParseDID(out.Did)
	if err != nil {
		return nil, fmt.Errorf("localnet: create account %s: bad did: %w", spec.Handle, err)
	}
	c := atclient.ResumePasswordSession(atclient.PasswordSessionData{
		AccessToken: out.AccessJwt, RefreshToken: out.RefreshJwt, AccountDID: did, Host: p.URL,
	}, nil)
	p.setup(c)
	a := &Account{
		DID: out.Did, Handle: out.Handle, Email: spec.Email, Password: spec.Password,
		PDS: p, session: c,
	}
	if err := a.seed(ctx, spec); err != nil {
		return a, err
	}
	return a, nil
}

// Client logs in to the account's PDS with its password and returns the
// client (which bypasses the PDS's rate limits, if on).
func (a *Account) Client(ctx context.Context) (*atclient.APIClient, error) {
	c, err := atclient.LoginWithPasswordHost(ctx, a.PDS.URL, a.DID, a.Password, "", nil)
	if err != nil {
		return nil, fmt.Errorf("localnet: log in %s at %s: %w", a.Handle, a.PDS.Name, err)
	}
	a.PDS.setup(c)
	return c, nil
}

// client returns the session from createAccount while the account is still
// on the PDS it was created on, and a fresh login otherwise.
func (a *Account) client(ctx context.Context) (*atclient.APIClient, error) {
	if a.session != nil && a.session.Host == a.PDS.URL {
		return a.session, nil
	}
	c, err := a.Client(ctx)
	if err != nil {
		return nil, err
	}
	a.session = c
	return c, nil
}

// Post creates one more post and returns its URI and CID (to test writes
// during a migration).
func (a *Account) Post(ctx context.Context, text string) (uri, cid string, err error) {
	c, err := a.client(ctx)
	if err != nil {
		return "", "", err
	}
	out, err := agnostic.RepoCreateRecord(ctx, c, &agnostic.RepoCreateRecord_Input{
		Collection: "app.bsky.feed.post", Repo: a.DID, Record: postRecord(text, nil),
	})
	if err != nil {
		return "", "", fmt.Errorf("localnet: post as %s: %w", a.Handle, err)
	}
	a.Records++
	return out.Uri, out.Cid, nil
}

// PostWithImage uploads a blob of size bytes and posts it, returning the
// blob's CID.
func (a *Account) PostWithImage(ctx context.Context, size int) (blobCID string, err error) {
	c, err := a.client(ctx)
	if err != nil {
		return "", err
	}
	ref, cid, err := uploadBlob(ctx, c, size, blobSeed(a.DID, time.Now().UnixNano()))
	if err != nil {
		return "", err
	}
	_, err = agnostic.RepoCreateRecord(ctx, c, &agnostic.RepoCreateRecord_Input{
		Collection: "app.bsky.feed.post", Repo: a.DID,
		Record: postRecord("image post", imageEmbed(ref, imageAltPrefix+cid)),
	})
	if err != nil {
		return "", fmt.Errorf("localnet: post image as %s: %w", a.Handle, err)
	}
	a.Records++
	a.Blobs = append(a.Blobs, cid)
	return cid, nil
}

// PostWithVideo uploads a video-sized blob of size bytes (sniffed as
// video/mp4) and posts it with an app.bsky.embed.video embed, which allows
// blobs up to 100 MB (an image embed stops at 1 MB). It returns the
// blob's CID.
func (a *Account) PostWithVideo(ctx context.Context, size int) (blobCID string, err error) {
	c, err := a.client(ctx)
	if err != nil {
		return "", err
	}
	ref, cid, err := uploadBlobAs(ctx, c, mp4Header, "video/mp4", size, blobSeed(a.DID, time.Now().UnixNano()))
	if err != nil {
		return "", err
	}
	_, err = agnostic.RepoCreateRecord(ctx, c, &agnostic.RepoCreateRecord_Input{
		Collection: "app.bsky.feed.post", Repo: a.DID,
		Record: postRecord("video post", map[string]any{"$type": "app.bsky.embed.video", "video": ref}),
	})
	if err != nil {
		return "", fmt.Errorf("localnet: post video as %s: %w", a.Handle, err)
	}
	a.Records++
	a.Blobs = append(a.Blobs, cid)
	return cid, nil
}

// seed writes the content spec asks for. Blob uploads (which do not touch
// the repo) run alongside the post batches.
func (a *Account) seed(ctx context.Context, spec SeedSpec) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rng := rand.New(rand.NewPCG(seedOf(a.DID), 1))
	sizes := make([]int, spec.Blobs)
	for i := range sizes {
		sizes[i] = spec.BlobMinBytes + rng.IntN(spec.BlobMaxBytes-spec.BlobMinBytes+1)
	}

	var blobs []blobResult
	var blobErr error
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		blobs, blobErr = a.uploadBlobs(ctx, sizes)
		if blobErr != nil {
			cancel()
		}
	}()
	postErr := a.writePosts(ctx, spec.Posts)
	if postErr != nil {
		cancel()
	}
	wg.Wait()
	if err := errors.Join(postErr, blobErr); err != nil {
		return err
	}

	// Image posts, batched like the plain ones.
	writes := make([]map[string]any, 0, len(blobs))
	for _, b := range blobs {
		writes = append(writes, postRecord(fmt.Sprintf("image %d", len(writes)), imageEmbed(b.ref, imageAltPrefix+b.cid)))
		a.Blobs = append(a.Blobs, b.cid)
	}
	if err := a.applyCreates(ctx, "app.bsky.feed.post", writes); err != nil {
		return err
	}

	if spec.Profile {
		if err := a.writeProfile(ctx, spec.BlobMinBytes); err != nil {
			return err
		}
	}
	if spec.Preferences {
		if err := a.writePreferences(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (a *Account) writePosts(ctx context.Context, n int) error {
	for done := 0; done < n; {
		k := min(batchSize, n-done)
		recs := make([]map[string]any, k)
		for i := range recs {
			recs[i] = postRecord(fmt.Sprintf("post %d of %s: %s", done+i+1, a.Handle, filler[(done+i)%len(filler)]), nil)
		}
		if err := a.applyCreates(ctx, "app.bsky.feed.post", recs); err != nil {
			return err
		}
		done += k
	}
	return nil
}

// applyCreates creates records in batches of batchSize.
func (a *Account) applyCreates(ctx context.Context, collection string, recs []map[string]any) error {
	for len(recs) > 0 {
		k := min(batchSize, len(recs))
		writes := make([]*agnostic.RepoApplyWrites_Input_Writes_Elem, k)
		for i, r := range recs[:k] {
			b, err := json.Marshal(r)
			if err != nil {
				return fmt.Errorf("localnet: encode record: %w", err)
			}
			raw := json.RawMessage(b)
			writes[i] = &agnostic.RepoApplyWrites_Input_Writes_Elem{
				RepoApplyWrites_Create: &agnostic.RepoApplyWrites_Create{Collection: collection, Value: &raw},
			}
		}
		if _, err := agnostic.RepoApplyWrites(ctx, a.session, &agnostic.RepoApplyWrites_Input{Repo: a.DID, Writes: writes}); err != nil {
			return fmt.Errorf("localnet: applyWrites for %s: %w", a.Handle, err)
		}
		a.Records += k
		recs = recs[k:]
	}
	return nil
}

type blobResult struct {
	ref json.RawMessage
	cid string
}

// uploadBlobs uploads len(sizes) blobs, uploadWorkers at a time, and
// returns them in order.
func (a *Account) uploadBlobs(ctx context.Context, sizes []int) ([]blobResult, error) {
	results := make([]blobResult, len(sizes))
	jobs := make(chan int)
	errs := make(chan error, uploadWorkers)
	var wg sync.WaitGroup
	for range uploadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				ref, cid, err := uploadBlob(ctx, a.session, sizes[i], blobSeed(a.DID, int64(i)))
				if err != nil {
					errs <- err
					return
				}
				results[i] = blobResult{ref, cid}
			}
		}()
	}
	var err error
feed:
	for i := range sizes {
		select {
		case jobs <- i:
		case err = <-errs:
			break feed
		case <-ctx.Done():
			err = ctx.Err()
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	if err != nil {
		return nil, err
	}
	return results, nil
}

func (a *Account) writeProfile(ctx context.Context, avatarSize int) error {
	ref, cid, err := uploadBlob(ctx, a.session, avatarSize, blobSeed(a.DID, -1))
	if err != nil {
		return err
	}
	var avatar map[string]any
	if err := json.Unmarshal(ref, &avatar); err != nil {
		return fmt.Errorf("localnet: decode avatar ref: %w", err)
	}
	_, err = agnostic.RepoPutRecord(ctx, a.session, &agnostic.RepoPutRecord_Input{
		Collection: "app.bsky.actor.profile", Repo: a.DID, Rkey: "self",
		Record: map[string]any{
			"$type":       "app.bsky.actor.profile",
			"displayName": "Seeded " + a.Handle,
			"description": "An account seeded by atmigrate's localnet.",
			"avatar":      avatar,
			"createdAt":   now(),
		},
	})
	if err != nil {
		return fmt.Errorf("localnet: put profile for %s: %w", a.Handle, err)
	}
	a.Records++
	a.Blobs = append(a.Blobs, cid)
	return nil
}

// UnknownPreferenceType is the $type of the seeded preference that no
// lexicon defines; a lossless migration keeps it with all its fields.
const UnknownPreferenceType = "app.bsky.actor.defs#atmigrateLocalnetPref"

// SeededPreferences returns the preferences that SeedSpec.Preferences
// stores, for tests to compare against.
func SeededPreferences() []map[string]any {
	return []map[string]any{
		{"$type": "app.bsky.actor.defs#adultContentPref", "enabled": false},
		{"$type": "app.bsky.actor.defs#contentLabelPref", "label": "graphic-media", "visibility": "warn"},
		{"$type": "app.bsky.actor.defs#threadViewPref", "sort": "oldest", "prioritizeFollowedUsers": true},
		{"$type": UnknownPreferenceType, "note": "kept verbatim", "nested": map[string]any{"n": 42, "list": []any{"x", "y"}}},
	}
}

func (a *Account) writePreferences(ctx context.Context) error {
	err := agnostic.ActorPutPreferences(ctx, a.session, &agnostic.ActorPutPreferences_Input{Preferences: SeededPreferences()})
	if err != nil {
		return fmt.Errorf("localnet: put preferences for %s: %w", a.Handle, err)
	}
	return nil
}

// jpegHeader makes the PDS sniff a blob as image/jpeg.
var jpegHeader = []byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00, 0x01, 0x01, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00}

// uploadBlob streams size pseudo-random bytes behind a JPEG header to
// uploadBlob and returns the blob ref (JSON) and its CID.
func uploadBlob(ctx context.Context, c *atclient.APIClient, size int, seed [32]byte) (json.RawMessage, string, error) {
	return uploadBlobAs(ctx, c, jpegHeader, "image/jpeg", size, seed)
}

// mp4Header starts an MP4 file ("ftyp" box, brand isom), so the PDS sniffs
// the random bytes after it as video/mp4.
var mp4Header = []byte{0, 0, 0, 0x18, 'f', 't', 'y', 'p', 'i', 's', 'o', 'm', 0, 0, 2, 0, 'i', 's', 'o', 'm', 'm', 'p', '4', '1'}

// uploadBlobAs uploads size bytes, header first, then random bytes from
// seed, as mime.
func uploadBlobAs(ctx context.Context, c *atclient.APIClient, header []byte, mime string, size int, seed [32]byte) (json.RawMessage, string, error) {
	size = max(size, len(header))
	body := io.MultiReader(bytes.NewReader(header), io.LimitReader(rand.NewChaCha8(seed), int64(size-len(header))))
	req := atclient.NewAPIRequest(atclient.MethodProcedure, "com.atproto.repo.uploadBlob", body)
	req.Headers.Set("Content-Type", mime)
	hreq, err := req.HTTPRequest(ctx, c.Host, c.Headers)
	if err != nil {
		return nil, "", fmt.Errorf("localnet: upload blob: %w", err)
	}
	hreq.ContentLength = int64(size)
	resp, err := c.Auth.DoWithAuth(c.Client, hreq, req.Endpoint)
	if err != nil {
		return nil, "", fmt.Errorf("localnet: upload blob: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb atclient.ErrorBody
		if json.NewDecoder(io.LimitReader(resp.Body, 1<<16)).Decode(&eb) != nil {
			return nil, "", fmt.Errorf("localnet: upload blob: HTTP %d", resp.StatusCode)
		}
		return nil, "", fmt.Errorf("localnet: upload blob: %w", eb.APIError(resp.StatusCode))
	}
	var out struct {
		Blob json.RawMessage `json:"blob"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, "", fmt.Errorf("localnet: decode uploadBlob response: %w", err)
	}
	var ref struct {
		Ref struct {
			Link string `json:"$link"`
		} `json:"ref"`
	}
	if err := json.Unmarshal(out.Blob, &ref); err != nil || ref.Ref.Link == "" {
		return nil, "", fmt.Errorf("localnet: uploadBlob response has no blob ref: %s", out.Blob)
	}
	return out.Blob, ref.Ref.Link, nil
}

func postRecord(text string, embed map[string]any) map[string]any {
	r := map[string]any{"$type": "app.bsky.feed.post", "text": text, "createdAt": now()}
	if embed != nil {
		r["embed"] = embed
	}
	return r
}

func imageEmbed(ref json.RawMessage, alt string) map[string]any {
	return map[string]any{
		"$type":  "app.bsky.embed.images",
		"images": []any{map[string]any{"alt": alt, "image": ref}},
	}
}

func now() string {
	return time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
}

// seedOf derives a PRNG seed from a string, so an account's content is
// reproducible for its DID.
func seedOf(s string) uint64 {
	h := sha256.Sum256([]byte(s))
	return binary.LittleEndian.Uint64(h[:8])
}

// blobSeed gives each blob of an account its own byte stream, so no two
// blobs share a CID.
func blobSeed(did string, i int64) [32]byte {
	return sha256.Sum256(fmt.Appendf(nil, "%s/%d", did, i))
}

var filler = []string{
	"the quick brown fox jumps over the lazy dog",
	"migrating accounts between servers, one block at a time",
	"lorem ipsum dolor sit amet, consectetur adipiscing elit",
	"a post with some unicode: héllo wörld ✓ 🌊",
	"short",
	"another day, another repository commit",
}
