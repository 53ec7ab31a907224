package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/bluesky-social/indigo/atproto/syntax"

	"github.com/atmigrate/atmigrate/repo/repotest"
)

// benchDID is the synthetic repo's DID.
const benchDID = "did:plc:atmigratemembenchaaaaaaa"

// imageShare is the share of posts that embed an image blob: 5%, as in
// the bench's M, L and XL accounts (its S has 10%).
const imageShare = 20 // one post in imageShare

// texts are the bodies of the plain posts, of the lengths the bench's
// seeded posts have (e2e/localnet: "post N of HANDLE: " and a sentence,
// 30 to 90 characters), so a record weighs what a seeded one does.
var texts = []string{
	"a walk along the river before the rain came down",
	"reading about content-addressed data structures tonight",
	"coffee, then code review, then more coffee",
	"ünïcödé in posts is common: ça va? 日本語 ✓",
	"ok",
	"the build is green again after a long afternoon",
}

// carVersion names the generator in the cache's file names: change it
// whenever build would write a different repo, so no stale CAR is reused.
const carVersion = "v1"

// cached returns the CAR of records posts in dir, building it first if
// the cache does not hold it.
func cached(records int, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("posts-%d-%s.car", records, carVersion))
	_, errCAR := os.Stat(path)
	_, errKey := os.Stat(path + ".key")
	if errCAR == nil && errKey == nil {
		return path, nil
	}
	return path, build(records, path)
}

// build writes a repo of records posts to out (through a temporary file,
// so a killed build leaves no half CAR for the cache) and its public
// signing key to out+".key".
func build(records int, out string) error {
	key, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return err
	}
	r := repotest.New(benchDID, key)
	images := records / imageShare
	if err := r.AddPosts(images, images); err != nil {
		return err
	}
	// A clock of its own (ID 1) cannot hand out the rkeys AddPosts used.
	clock := syntax.NewTIDClock(1)
	for i := 0; i < records-images; i++ {
		rec := map[string]any{
			"$type":     "app.bsky.feed.post",
			"text":      fmt.Sprintf("post %d of bmembench: %s", i+1, texts[i%len(texts)]),
			"createdAt": time.Unix(1700000000+int64(i), 0).UTC().Format("2006-01-02T15:04:05.000Z"),
		}
		if err := r.PutRecord("app.bsky.feed.post/"+clock.Next().String(), rec); err != nil {
			return err
		}
	}
	if err := r.Commit(); err != nil {
		return err
	}
	pub, err := key.PublicKey()
	if err != nil {
		return err
	}
	if err := os.WriteFile(out+".key", []byte(pub.DIDKey()), 0o644); err != nil {
		return err
	}
	tmp := out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	err = r.WriteCAR(w, nil)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	return os.Rename(tmp, out)
}
