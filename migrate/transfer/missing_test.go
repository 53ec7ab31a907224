package transfer

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/atmigrate/atmigrate/internal/pds"
)

func TestMissingBlobsError(t *testing.T) {
	var still []pds.MissingBlob
	for i := 12; i > 0; i-- { // reverse order: the message sorts
		still = append(still, pds.MissingBlob{CID: fmt.Sprintf("bafk%02d", i), RecordURI: fmt.Sprintf("at://did:plc:x/app.bsky.feed.post/r%02d", i)})
	}
	failures := map[string]error{"bafk01": errors.New("upload blob bafk01: 400 InvalidRequest")}
	msg := missingBlobsError(still, failures).Error()
	lines := strings.Split(msg, "\n")
	if !strings.HasPrefix(lines[0], "12 blob(s) are missing on the new PDS") {
		t.Errorf("first line %q", lines[0])
	}
	if len(lines) != 1+10+1 {
		t.Fatalf("want the count, 10 blobs and a 'more' line; got %d lines:\n%s", len(lines), msg)
	}
	if !strings.Contains(lines[1], "bafk01 (at://did:plc:x/app.bsky.feed.post/r01): upload blob bafk01: 400 InvalidRequest") {
		t.Errorf("the first blob line lacks its record or its failure: %q", lines[1])
	}
	if !strings.Contains(lines[10], "bafk10") || strings.Contains(msg, "bafk11") {
		t.Errorf("want the 10 first CIDs in order:\n%s", msg)
	}
	if !strings.Contains(lines[11], "and 2 more") || !strings.Contains(lines[11], "atmigrate status") {
		t.Errorf("last line %q", lines[11])
	}

	one := missingBlobsError([]pds.MissingBlob{{CID: "bafkonly"}}, nil).Error()
	if one != "1 blob(s) are missing on the new PDS:\n  bafkonly" {
		t.Errorf("single blob: %q", one)
	}
}
