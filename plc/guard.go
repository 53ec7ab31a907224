package plc

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// NullifyWindow is how long after an operation a rotation key listed above
// the one that signed it can still nullify it (@did-plc/lib RECOVERY_WINDOW).
const NullifyWindow = 72 * time.Hour

// Refusals of a nullifying operation. BuildNullify wraps them with the
// details (which key, which operation, until when).
var (
	// ErrOpNotInLog: the operation to keep is not in the DID's audit log.
	ErrOpNotInLog = errors.New("operation not in the audit log")
	// ErrOpNullified: the operation to keep was itself nullified.
	ErrOpNullified = errors.New("operation was nullified")
	// ErrNothingToUndo: no live operation follows the one to keep.
	ErrNothingToUndo = errors.New("nothing to undo")
	// ErrNotRotationKey: the key is not a rotation key of the kept operation.
	ErrNotRotationKey = errors.New("not a rotation key of the kept operation")
	// ErrKeyNotHighEnough: the key is not above the signer of the first
	// operation it would nullify.
	ErrKeyNotHighEnough = errors.New("key not high enough to override")
	// ErrWindowClosed: the first operation to nullify is more than 72 hours old.
	ErrWindowClosed = errors.New("the 72-hour window is closed")
)

// Signed is one operation of the log as the guard sees it: when it was
// made, who signed it and what it did.
type Signed struct {
	CID       string
	CreatedAt time.Time
	// Signer is the did:key that signed it and SignerIndex its position in
	// the rotation keys of the operation before it (0 is the highest); ""
	// and -1 for a genesis operation.
	Signer      string
	SignerIndex int
	// Doc is the document it sets (Sig and Prev cleared); nil for a tombstone.
	Doc *didplc.RegularOp
	// Changes lists what it changed, one line each (see Changes).
	Changes []string
	// WindowEnds is CreatedAt + NullifyWindow: until then a key above
	// Signer can nullify it.
	WindowEnds time.Time
	// Overriders are those keys: the rotation keys of the operation before
	// it that are listed above Signer.
	Overriders []string
}

// Left is how much of the operation's 72-hour window is left at now (0
// when closed).
func (s Signed) Left(now time.Time) time.Duration {
	return max(s.WindowEnds.Sub(now), 0)
}

// Review is a DID's history after an operation the user wants to keep:
// the live operations that followed it and who can still undo them. It is
// computed from a verified audit log and a clock, and does no I/O.
type Review struct {
	DID string
	Now time.Time
	// Kept is the operation to go back to. When the live operations right
	// after the one asked for leave the document exactly as it was (a
	// recovery made earlier, for one), Kept moves on to the last of them:
	// they changed nothing, and the directory lets fewer keys nullify from
	// an operation each time one of its children is nullified.
	Kept Signed
	// Asked is the operation asked for (Kept unless Kept moved on), and
	// Unchanged the operations Kept moved on over, oldest first.
	Asked     Signed
	Unchanged []Signed
	// Later are the live operations after Kept, oldest first.
	Later []Signed
	// Allowed are Kept's rotation keys that may sign an operation
	// nullifying Later: those above the signer of every child Kept has had
	// (the directory trims the list with each one, nullified ones included).
	Allowed []string

	log     []didplc.LogEntry
	keptIdx int
}

// NewReview verifies log and reviews what came after the operation keep
// (a CID) at time now.
func NewReview(did string, log []didplc.LogEntry, keep string, now time.Time) (*Review, error) {
	st, err := StateFromLog(did, log)
	if err != nil {
		return nil, err
	}
	byCID := make(map[string]int, len(log))
	for i, e := range log {
		byCID[e.CID] = i
	}
	ki, ok := byCID[keep]
	if !ok {
		return nil, fmt.Errorf("keep %s: %w of %s", keep, ErrOpNotInLog, did)
	}
	if log[ki].Nullified {
		return nil, fmt.Errorf("keep %s: %w; keep a live one (`atmigrate plc log` lists them)", keep, ErrOpNullified)
	}
	r := &Review{DID: did, Now: now, log: st.Log}
	if r.Asked, err = r.signed(ki, byCID); err != nil {
		return nil, err
	}
	var live []int
	for i := ki + 1; i < len(log); i++ {
		if !log[i].Nullified {
			live = append(live, i)
		}
	}
	// Move past operations that changed nothing.
	var unchanged []int
	for len(live) > 0 && sameDoc(docOf(log[live[0]]), docOf(log[ki])) {
		ki, live = live[0], live[1:]
		unchanged = append(unchanged, ki)
	}
	r.keptIdx = ki
	for _, i := range unchanged {
		s, err := r.signed(i, byCID)
		if err != nil {
			return nil, err
		}
		r.Unchanged = append(r.Unchanged, s)
	}
	if r.Kept, err = r.signed(ki, byCID); err != nil {
		return nil, err
	}
	for _, i := range live {
		s, err := r.signed(i, byCID)
		if err != nil {
			return nil, err
		}
		r.Later = append(r.Later, s)
	}
	if r.Kept.Doc != nil {
		keys := r.log[ki].Operation.AsOperation().EquivalentRotationKeys()
		limit := len(keys)
		for i, e := range log {
			if i == ki || prevOf(e) != log[ki].CID {
				continue
			}
			if idx, err := didplc.VerifySignatureAny(e.Operation.AsOperation(), keys); err == nil {
				limit = min(limit, idx)
			}
		}
		r.Allowed = slices.Clone(keys[:limit])
	}
	return r, nil
}

// signed describes log entry i.
func (r *Review) signed(i int, byCID map[string]int) (Signed, error) {
	e := r.log[i]
	at, err := parseCreatedAt(e.CreatedAt)
	if err != nil {
		return Signed{}, fmt.Errorf("operation %s: createdAt %q: %w", e.CID, e.CreatedAt, err)
	}
	s := Signed{CID: e.CID, CreatedAt: at, SignerIndex: -1, Doc: docOf(e), WindowEnds: at.Add(NullifyWindow)}
	p := prevOf(e)
	if p == "" {
		return s, nil
	}
	pi, ok := byCID[p]
	if !ok {
		return Signed{}, fmt.Errorf("operation %s: prev %s %w", e.CID, p, ErrOpNotInLog)
	}
	keys := r.log[pi].Operation.AsOperation().EquivalentRotationKeys()
	idx, err := didplc.VerifySignatureAny(e.Operation.AsOperation(), keys)
	if err != nil {
		return Signed{}, fmt.Errorf("operation %s: signer: %w", e.CID, err)
	}
	s.Signer, s.SignerIndex, s.Overriders = keys[idx], idx, slices.Clone(keys[:idx])
	if s.Doc == nil {
		s.Changes = []string{"tombstone: the DID is deleted"}
	} else {
		s.Changes = Changes(docOf(r.log[pi]), s.Doc)
	}
	return s, nil
}

// Changed reports whether anything live follows Kept.
func (r *Review) Changed() bool { return len(r.Later) > 0 }

// Head is the DID's current operation (Kept when nothing followed it).
func (r *Review) Head() Signed {
	if len(r.Later) > 0 {
		return r.Later[len(r.Later)-1]
	}
	return r.Kept
}

// WindowEnds is until when the later operations can be nullified: the
// directory checks the 72 hours against the first of them only. Zero when
// nothing follows Kept.
func (r *Review) WindowEnds() time.Time {
	if len(r.Later) == 0 {
		return time.Time{}
	}
	return r.Later[0].WindowEnds
}

// CanNullify says whether key (a did:key) may sign an operation that
// nullifies every operation after Kept, now; the error wraps one of the
// refusals above and says why in words.
func (r *Review) CanNullify(key string) error {
	if len(r.Later) == 0 {
		return fmt.Errorf("%w: no operation follows %s", ErrNothingToUndo, r.Kept.CID)
	}
	if r.Kept.Doc == nil {
		return fmt.Errorf("%w: %s is a tombstone", ErrNotRotationKey, r.Kept.CID)
	}
	keys := r.log[r.keptIdx].Operation.AsOperation().EquivalentRotationKeys()
	idx := slices.Index(keys, key)
	first := r.Later[0]
	switch {
	case idx < 0:
		return fmt.Errorf("%w: %s is not among the rotation keys of %s (%s)", ErrNotRotationKey, key, r.Kept.CID, NumberedKeys(keys))
	case idx >= len(r.Allowed):
		// A live child's signer is always within the list its earlier,
		// nullified siblings left, so the first later operation's signer
		// is where the list ends.
		return fmt.Errorf("%w: %s is rotation key [%d] of %s, and %s was signed by [%d] %s; only a key above it can override it (%s)",
			ErrKeyNotHighEnough, key, idx, r.Kept.CID, first.CID, first.SignerIndex, first.Signer, NumberedKeys(r.Allowed))
	case r.Now.After(first.WindowEnds):
		return fmt.Errorf("%w: %s was made %s, more than 72 hours ago (the window closed %s)",
			ErrWindowClosed, first.CID, first.CreatedAt.UTC().Format(time.RFC3339), first.WindowEnds.UTC().Format(time.RFC3339))
	}
	return nil
}

// BuildNullify returns the operation that puts the document back to
// Kept's and nullifies every operation after it: prev = Kept, the same
// document, signed by key. It refuses (CanNullify) before signing, and
// after signing replays the whole log with the operation appended at Now,
// as the directory will, so an operation it would refuse never leaves.
func (r *Review) BuildNullify(key atcrypto.PrivateKey) (*didplc.RegularOp, error) {
	pub, err := DIDKey(key)
	if err != nil {
		return nil, err
	}
	if err := r.CanNullify(pub); err != nil {
		return nil, err
	}
	op := CloneOp(r.Kept.Doc)
	op.Type = "plc_operation"
	prev := r.Kept.CID
	op.Prev = &prev
	if err := Sign(&op, key); err != nil {
		return nil, err
	}
	entries := slices.Clone(r.log)
	for i := r.keptIdx + 1; i < len(entries); i++ {
		entries[i].Nullified = true
	}
	at := r.Now.UTC()
	if head := r.Head().CreatedAt; !at.After(head) {
		at = head.Add(time.Millisecond)
	}
	c := CloneOp(&op)
	entries = append(entries, didplc.LogEntry{DID: r.DID, Operation: didplc.OpEnum{Regular: &c},
		CID: c.CID().String(), CreatedAt: at.Format("2006-01-02T15:04:05.000Z")})
	if err := didplc.VerifyOpLog(entries); err != nil {
		return nil, &CheckError{Problems: []string{"the directory would refuse the nullifying operation: " + err.Error()}}
	}
	return &op, nil
}

// Changes lists the document fields that differ between before and after,
// one line each ("services: + atproto_pds: https://... (AtprotoPersonalDataServer)"),
// from DiffDoc's lines that are not unchanged.
func Changes(before, after *didplc.RegularOp) []string {
	var out []string
	section := ""
	for _, l := range strings.Split(strings.TrimRight(DiffDoc(before, after), "\n"), "\n") {
		switch {
		case strings.HasSuffix(l, ":") && !strings.HasPrefix(l, " ") && !strings.HasPrefix(l, "-") && !strings.HasPrefix(l, "+"):
			section = strings.TrimSuffix(l, ":")
		case strings.HasPrefix(l, "- "), strings.HasPrefix(l, "+ "), strings.Contains(l, "(was ["):
			out = append(out, section+": "+strings.TrimSpace(l))
		}
	}
	if len(out) == 0 {
		out = []string{"nothing in the document"}
	}
	return out
}

// docOf is the document an entry sets, unsigned and without prev; nil for
// a tombstone.
func docOf(e didplc.LogEntry) *didplc.RegularOp {
	var op didplc.RegularOp
	switch o := e.Operation.AsOperation().(type) {
	case *didplc.RegularOp:
		op = CloneOp(o)
	case *didplc.LegacyOp:
		r := o.RegularOp()
		op = CloneOp(&r)
		op.Type = "plc_operation"
	default:
		return nil
	}
	op.Sig, op.Prev = nil, nil
	return &op
}

func prevOf(e didplc.LogEntry) string {
	return e.Operation.AsOperation().PrevCIDStr()
}

// sameDoc reports whether two documents are identical (order of the lists
// included); tombstones never are.
func sameDoc(a, b *didplc.RegularOp) bool {
	if a == nil || b == nil {
		return false
	}
	return slices.Equal(a.RotationKeys, b.RotationKeys) && slices.Equal(a.AlsoKnownAs, b.AlsoKnownAs) &&
		mapDiff(a.VerificationMethods, b.VerificationMethods, func(v string) string { return v }) == "" &&
		mapDiff(a.Services, b.Services, fmtService) == ""
}

// NumberedKeys renders keys with their positions: "[0] did:key:..., [1] ...", or "none".
func NumberedKeys(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("[%d] %s", i, k)
	}
	return strings.Join(parts, ", ")
}
