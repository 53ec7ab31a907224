package fakenet

import (
	"bytes"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"iter"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/atmigrate/atmigrate/plc"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
	"github.com/did-method-plc/go-didplc/didplc"
)

// PLC is a fake PLC directory (@did-plc/server 0.0.1 behaviour) on an
// httptest server. It serves POST /{did}, GET /{did}, /{did}/data,
// /{did}/log, /{did}/log/audit, /{did}/log/last and /_health.
type PLC struct {
	// URL is the directory's base URL, for plc.NewClient.
	URL string

	t   testing.TB
	srv *httptest.Server
	mux *http.ServeMux
	sw  *switchboard

	mu   sync.Mutex
	logs map[string][]*plcEntry
	now  func() time.Time
}

type plcEntry struct {
	op        didplc.OpEnum
	cid       string
	nullified bool
	createdAt time.Time
}

// PLCError is the directory's refusal of an operation (or of a read): the
// HTTP status and its {"message"} text.
type PLCError struct {
	Status  int
	Message string
}

func (e *PLCError) Error() string { return fmt.Sprintf("plc: %d: %s", e.Status, e.Message) }

// The 72-hour window in which a higher rotation key may nullify operations.
const recoveryWindow = 72 * time.Hour

// NewPLC starts an empty directory, closed when the test ends.
func NewPLC(t testing.TB) *PLC {
	t.Helper()
	p := &PLC{t: t, sw: newSwitchboard(), logs: map[string][]*plcEntry{}, now: time.Now}
	p.mux = http.NewServeMux()
	p.mux.HandleFunc("GET /_health", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"version": "fakenet"})
	})
	p.mux.HandleFunc("GET /{did}", p.handleDoc)
	p.mux.HandleFunc("GET /{did}/data", p.handleData)
	p.mux.HandleFunc("GET /{did}/log", p.handleLog)
	p.mux.HandleFunc("GET /{did}/log/audit", p.handleAudit)
	p.mux.HandleFunc("GET /{did}/log/last", p.handleLast)
	p.mux.HandleFunc("POST /{did}", p.handlePost)
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.URL = p.srv.URL
	t.Cleanup(p.srv.Close)
	return p
}

func (p *PLC) serve(w http.ResponseWriter, r *http.Request) {
	_, pattern := p.mux.Handler(r)
	dropped, failure, lose := p.sw.intercept(w, pattern)
	switch {
	case dropped:
	case failure != nil:
		writeJSON(w, failure.Status, map[string]string{"message": failure.Message})
	case lose:
		serveThenDrop(w, r, p.mux.ServeHTTP)
	default:
		p.mux.ServeHTTP(w, r)
	}
}

// Down makes every request fail at the network level (the connection is
// closed without an answer) until Up.
func (p *PLC) Down() { p.sw.setDown(true) }

// Up undoes Down.
func (p *PLC) Up() { p.sw.setDown(false) }

// Calls counts the requests received for a route, named by its pattern:
// "POST /{did}", "GET /{did}", "GET /{did}/data", "GET /{did}/log",
// "GET /{did}/log/audit", "GET /{did}/log/last". Requests dropped by Down
// count too.
func (p *PLC) Calls(route string) int { return p.sw.count(route) }

// Fail makes the next n requests to route (a Calls pattern) answer status
// with {"message": message}.
func (p *PLC) Fail(route string, n, status int, message string) {
	p.sw.fail(route, n, &XRPCError{Status: status, Message: message})
}

// LoseResponse makes the next n requests to route (a Calls pattern) take
// effect but lose their response: the connection is closed after the
// request was handled, as when a proxy or the network dies at the wrong
// moment.
func (p *PLC) LoseResponse(route string, n int) { p.sw.loseResponses(route, n) }

// SetClock replaces the clock that stamps createdAt and judges the 72-hour
// recovery window (default time.Now). Timestamps still strictly increase
// within a DID's log.
func (p *PLC) SetClock(now func() time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.now = now
}

// CreateDID registers a genesis operation with rotationKeys = [rotationKey],
// verificationMethods.atproto = signingKey (a did:key), alsoKnownAs =
// [at://handle] and the atproto_pds service at endpoint (each left out when
// empty), signed by rotationKey, and returns the DID. It fails the test if
// the directory refuses.
func (p *PLC) CreateDID(rotationKey atcrypto.PrivateKey, signingKey, handle, endpoint string) string {
	p.t.Helper()
	pub, err := rotationKey.PublicKey()
	if err != nil {
		p.t.Fatalf("fakenet: rotation key: %v", err)
	}
	op := didplc.RegularOp{
		Type:                "plc_operation",
		RotationKeys:        []string{pub.DIDKey()},
		VerificationMethods: map[string]string{},
		AlsoKnownAs:         []string{},
		Services:            map[string]didplc.OpService{},
	}
	if signingKey != "" {
		op.VerificationMethods["atproto"] = signingKey
	}
	if handle != "" {
		op.AlsoKnownAs = append(op.AlsoKnownAs, "at://"+handle)
	}
	if endpoint != "" {
		op.Services["atproto_pds"] = didplc.OpService{Type: "AtprotoPersonalDataServer", Endpoint: endpoint}
	}
	return p.Genesis(op, rotationKey)
}

// Genesis signs op (made a genesis: type plc_operation, prev null) with
// signer, registers it and returns the DID. Use it for a document
// CreateDID cannot express, such as several rotation keys.
func (p *PLC) Genesis(op didplc.RegularOp, signer atcrypto.PrivateKey) string {
	p.t.Helper()
	op.Type = "plc_operation"
	op.Prev = nil
	if err := op.Sign(signer); err != nil {
		p.t.Fatalf("fakenet: sign genesis: %v", err)
	}
	did, err := op.DID()
	if err != nil {
		p.t.Fatalf("fakenet: genesis DID: %v", err)
	}
	if err := p.Submit(did, &op); err != nil {
		p.t.Fatalf("fakenet: register genesis: %v", err)
	}
	return did
}

// Update builds the next operation from the DID's current document (prev =
// its head), lets mutate change it, signs it with key, submits it and
// returns its CID. It fails the test if the directory refuses.
func (p *PLC) Update(did string, key atcrypto.PrivateKey, mutate func(*didplc.RegularOp)) string {
	p.t.Helper()
	op, err := p.NextOp(did)
	if err != nil {
		p.t.Fatalf("fakenet: update %s: %v", did, err)
	}
	if mutate != nil {
		mutate(op)
	}
	if err := op.Sign(key); err != nil {
		p.t.Fatalf("fakenet: sign update: %v", err)
	}
	if err := p.Submit(did, op); err != nil {
		p.t.Fatalf("fakenet: update %s: %v", did, err)
	}
	return op.CID().String()
}

// NextOp returns an unsigned copy of the DID's current document as a
// plc_operation whose prev is the head: the start of any update.
func (p *PLC) NextOp(did string) (*didplc.RegularOp, error) {
	op, cid, err := p.headCopy(did)
	if err != nil {
		return nil, err
	}
	op.Prev = &cid
	return op, nil
}

// Submit applies a signed operation as POST /{did} would, without HTTP; a
// refusal is a *PLCError with the directory's message.
func (p *PLC) Submit(did string, op didplc.Operation) error {
	raw, err := json.Marshal(op)
	if err != nil {
		return err
	}
	if perr := p.submit(did, raw); perr != nil {
		return perr
	}
	return nil
}

// Log returns a copy of the DID's audit log (nullified entries included),
// as GET /{did}/log/audit serves it; nil for an unknown DID.
func (p *PLC) Log(did string) []didplc.LogEntry {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []didplc.LogEntry
	for _, e := range p.logs[did] {
		out = append(out, didplc.LogEntry{
			DID:       did,
			Operation: cloneOpEnum(e.op),
			CID:       e.cid,
			Nullified: e.nullified,
			CreatedAt: isoTime(e.createdAt),
		})
	}
	return out
}

// Data returns a copy of the DID's current document data (the head
// operation, unsigned), or a *PLCError (404) for an unknown or tombstoned
// DID.
func (p *PLC) Data(did string) (*didplc.RegularOp, error) {
	op, _, err := p.headCopy(did)
	if err != nil {
		return nil, err
	}
	op.Prev = nil
	return op, nil
}

// headCopy returns an unsigned copy of the DID's head operation and the
// head's CID, or the headLocked refusal.
func (p *PLC) headCopy(did string) (*didplc.RegularOp, string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	head, perr := p.headLocked(did)
	if perr != nil {
		return nil, "", perr
	}
	op := cloneRegular(head.op.Regular)
	op.Sig = nil
	return op, head.cid, nil
}

// notRegistered is the 404 for a DID with no (active) operations.
func notRegistered(did string) *PLCError {
	return &PLCError{Status: http.StatusNotFound, Message: "DID not registered: " + did}
}

// headLocked is the last non-nullified entry, which must be a regular op.
func (p *PLC) headLocked(did string) (*plcEntry, *PLCError) {
	ops := p.activeLocked(did)
	if len(ops) == 0 {
		return nil, notRegistered(did)
	}
	head := ops[len(ops)-1]
	if head.op.Regular == nil {
		return nil, &PLCError{Status: http.StatusNotFound, Message: "DID not available: " + did}
	}
	return head, nil
}

func (p *PLC) activeLocked(did string) []*plcEntry {
	var out []*plcEntry
	for _, e := range p.logs[did] {
		if !e.nullified {
			out = append(out, e)
		}
	}
	return out
}

// submit validates raw as the next operation of did, in the order
// @did-plc/lib's assureValidNextOp does, and appends it.
func (p *PLC) submit(did string, raw []byte) *PLCError {
	compact := compactJSON(raw)
	bad := func(msg string) *PLCError { return &PLCError{Status: http.StatusBadRequest, Message: msg} }
	if !validOpShape(raw) {
		return bad("Not a valid operation: " + compact)
	}
	var oe didplc.OpEnum
	if err := json.Unmarshal(raw, &oe); err != nil || (oe.Regular == nil && oe.Tombstone == nil) {
		return bad("Not a valid operation: " + compact)
	}
	op := oe.AsOperation()
	misordered := bad("Operations not correctly ordered")
	invalidSig := func(opJSON string) *PLCError { return bad("Invalid signature on op: " + opJSON) }

	if reg := oe.Regular; reg != nil {
		keys := slices.Concat(sortedValues(reg.VerificationMethods), reg.RotationKeys)
		for _, k := range keys {
			if _, err := atcrypto.ParsePublicDIDKey(k); err != nil {
				return bad(fmt.Sprintf("Unsupported key type %s: %v", k, err))
			}
		}
		// JavaScript interpolates the op object as "[object Object]".
		if len(reg.RotationKeys) > 5 {
			return bad("Improperly formatted operation, too many rotation keys: [object Object]")
		}
		if len(reg.RotationKeys) < 1 {
			return bad("Improperly formatted operation, need at least one rotation key: [object Object]")
		}
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	ops := p.activeLocked(did)
	var nullify []*plcEntry
	if len(ops) == 0 {
		if oe.Tombstone != nil {
			return misordered
		}
		if _, err := didplc.VerifySignatureAny(op, oe.Regular.RotationKeys); err != nil {
			return invalidSig(compact)
		}
		expected := longGenesisDID(oe.Regular)
		if len(did) < 32 {
			return bad("Improperly formatted did: too short")
		}
		if !strings.HasPrefix(expected, did) {
			return bad("Hash of genesis operation does not match DID identifier: " + expected)
		}
		if oe.Regular.Prev != nil {
			return bad("Improperly formatted operation, expected null prev on create: [object Object]")
		}
	} else {
		prev := op.PrevCIDStr()
		if prev == "" {
			return misordered
		}
		idx := slices.IndexFunc(ops, func(e *plcEntry) bool { return e.cid == prev })
		if idx < 0 {
			return misordered
		}
		last := ops[idx]
		if last.op.Tombstone != nil {
			return misordered
		}
		keys := last.op.AsOperation().EquivalentRotationKeys()
		nullify = ops[idx+1:]
		if len(nullify) == 0 {
			if _, err := didplc.VerifySignatureAny(op, keys); err != nil {
				return invalidSig(compact)
			}
		} else {
			disputed := nullify[0].op.AsOperation()
			signer, err := didplc.VerifySignatureAny(disputed, keys)
			if err != nil {
				b, _ := json.Marshal(disputed)
				return invalidSig(string(b))
			}
			if _, err := didplc.VerifySignatureAny(op, keys[:signer]); err != nil {
				return invalidSig(compact)
			}
			if lapsed := now.Sub(nullify[0].createdAt); lapsed > recoveryWindow {
				return bad(fmt.Sprintf("Recovery operation occured outside of the allowed 72 hr recovery window. Time lapsed: %d", lapsed.Milliseconds()))
			}
		}
	}
	createdAt := now.UTC().Truncate(time.Millisecond)
	if log := p.logs[did]; len(log) > 0 {
		// didplc.VerifyOpLog wants strictly increasing timestamps.
		if lastAt := log[len(log)-1].createdAt; !createdAt.After(lastAt) {
			createdAt = lastAt.Add(time.Millisecond)
		}
	}
	for _, e := range nullify {
		e.nullified = true
	}
	p.logs[did] = append(p.logs[did], &plcEntry{op: oe, cid: op.CID().String(), createdAt: createdAt})
	return nil
}

// longGenesisDID is the DID @did-plc/lib computes to check a genesis: the
// whole base32 hash, of which the real DID is a prefix.
func longGenesisDID(op *didplc.RegularOp) string {
	sum := sha256.Sum256(op.SignedCBORBytes())
	return "did:plc:" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(sum[:]))
}

// validOpShape is the directory's schema check (plc_operation or
// plc_tombstone, every field present with the right JSON type).
func validOpShape(raw []byte) bool {
	var f map[string]json.RawMessage
	if json.Unmarshal(raw, &f) != nil {
		return false
	}
	var typ string
	if !isJSONString(f["type"]) || json.Unmarshal(f["type"], &typ) != nil {
		return false
	}
	switch typ {
	case "plc_tombstone":
		return isJSONString(f["prev"]) && isJSONString(f["sig"])
	case "plc_operation":
		if !isJSONString(f["sig"]) || !(isJSONString(f["prev"]) || isJSONNull(f["prev"])) {
			return false
		}
		if !isStringArray(f["rotationKeys"]) || !isStringArray(f["alsoKnownAs"]) || !isStringMap(f["verificationMethods"]) {
			return false
		}
		var svcs map[string]json.RawMessage
		if !isJSONObject(f["services"]) || json.Unmarshal(f["services"], &svcs) != nil {
			return false
		}
		for _, s := range svcs {
			var fields map[string]json.RawMessage
			if !isJSONObject(s) || json.Unmarshal(s, &fields) != nil || !isJSONString(fields["type"]) || !isJSONString(fields["endpoint"]) {
				return false
			}
		}
		return true
	}
	return false
}

func firstByte(v json.RawMessage) byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func isJSONString(v json.RawMessage) bool {
	var s string
	return firstByte(v) == '"' && json.Unmarshal(v, &s) == nil
}

func isJSONNull(v json.RawMessage) bool { return string(bytes.TrimSpace(v)) == "null" }

func isJSONObject(v json.RawMessage) bool { return firstByte(v) == '{' }

func isStringArray(v json.RawMessage) bool {
	var items []json.RawMessage
	return firstByte(v) == '[' && json.Unmarshal(v, &items) == nil && allJSONStrings(slices.Values(items))
}

func isStringMap(v json.RawMessage) bool {
	var m map[string]json.RawMessage
	return isJSONObject(v) && json.Unmarshal(v, &m) == nil && allJSONStrings(maps.Values(m))
}

func allJSONStrings(items iter.Seq[json.RawMessage]) bool {
	for it := range items {
		if !isJSONString(it) {
			return false
		}
	}
	return true
}

func compactJSON(raw []byte) string {
	var b bytes.Buffer
	if json.Compact(&b, raw) != nil {
		return string(raw)
	}
	return b.String()
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func sortedValues(m map[string]string) []string {
	var out []string
	for _, k := range sortedKeys(m) {
		out = append(out, m[k])
	}
	return out
}

// cloneRegular deep-copies op, as the real directory keeps its own copy.
func cloneRegular(op *didplc.RegularOp) *didplc.RegularOp {
	out := plc.CloneOp(op)
	return &out
}

func cloneOpEnum(oe didplc.OpEnum) didplc.OpEnum {
	switch {
	case oe.Regular != nil:
		return didplc.OpEnum{Regular: cloneRegular(oe.Regular)}
	case oe.Tombstone != nil:
		t := *oe.Tombstone
		if t.Sig != nil {
			s := *t.Sig
			t.Sig = &s
		}
		return didplc.OpEnum{Tombstone: &t}
	}
	return oe
}

// HTTP handlers.

func writePLCError(w http.ResponseWriter, e *PLCError) {
	writeJSON(w, e.Status, map[string]string{"message": e.Message})
}

func (p *PLC) handlePost(w http.ResponseWriter, r *http.Request) {
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		writePLCError(w, &PLCError{Status: http.StatusBadRequest, Message: "unreadable body"})
		return
	}
	if perr := p.submit(r.PathValue("did"), raw); perr != nil {
		writePLCError(w, perr)
		return
	}
	// Express's res.sendStatus(200).
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "OK")
}

// plcDocData is GET /{did}/data.
type plcDocData struct {
	DID                 string                      `json:"did"`
	VerificationMethods map[string]string           `json:"verificationMethods"`
	RotationKeys        []string                    `json:"rotationKeys"`
	AlsoKnownAs         []string                    `json:"alsoKnownAs"`
	Services            map[string]didplc.OpService `json:"services"`
}

// pathData reads the document data of the request's {did}; on a refusal
// it answers the error and ok is false.
func (p *PLC) pathData(w http.ResponseWriter, r *http.Request) (did string, op *didplc.RegularOp, ok bool) {
	did = r.PathValue("did")
	op, err := p.Data(did)
	if err != nil {
		writePLCError(w, err.(*PLCError))
		return did, nil, false
	}
	return did, op, true
}

func (p *PLC) handleData(w http.ResponseWriter, r *http.Request) {
	did, op, ok := p.pathData(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, plcDocData{
		DID:                 did,
		VerificationMethods: op.VerificationMethods,
		RotationKeys:        op.RotationKeys,
		AlsoKnownAs:         op.AlsoKnownAs,
		Services:            op.Services,
	})
}

type legacyVM struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Controller         string `json:"controller"`
	PublicKeyMultibase string `json:"publicKeyMultibase"`
}

type legacyService struct {
	ID              string `json:"id"`
	Type            string `json:"type"`
	ServiceEndpoint string `json:"serviceEndpoint"`
}

type legacyDoc struct {
	Context            []string        `json:"@context"`
	ID                 string          `json:"id"`
	AlsoKnownAs        []string        `json:"alsoKnownAs"`
	VerificationMethod []legacyVM      `json:"verificationMethod"`
	Service            []legacyService `json:"service"`
}

// formatDidDoc renders the DID document in @did-plc/lib 0.0.4's format:
// "#fragment" ids, EcdsaSecp256k1VerificationKey2019 (or ...r1...) with an
// uncompressed publicKeyMultibase.
func formatDidDoc(did string, op *didplc.RegularOp) (*legacyDoc, error) {
	doc := &legacyDoc{
		Context:            []string{"https://www.w3.org/ns/did/v1"},
		ID:                 did,
		AlsoKnownAs:        op.AlsoKnownAs,
		VerificationMethod: []legacyVM{},
		Service:            []legacyService{},
	}
	for _, id := range sortedKeys(op.VerificationMethods) {
		pub, err := atcrypto.ParsePublicDIDKey(op.VerificationMethods[id])
		if err != nil {
			return nil, fmt.Errorf("Unsupported key type %s: %v", op.VerificationMethods[id], err)
		}
		var ctx, typ string
		switch pub.(type) {
		case *atcrypto.PublicKeyP256:
			ctx, typ = "https://w3id.org/security/suites/ecdsa-2019/v1", "EcdsaSecp256r1VerificationKey2019"
		default:
			ctx, typ = "https://w3id.org/security/suites/secp256k1-2019/v1", "EcdsaSecp256k1VerificationKey2019"
		}
		if !slices.Contains(doc.Context, ctx) {
			doc.Context = append(doc.Context, ctx)
		}
		doc.VerificationMethod = append(doc.VerificationMethod, legacyVM{
			ID:                 "#" + id,
			Type:               typ,
			Controller:         did,
			PublicKeyMultibase: "z" + base58btc(pub.UncompressedBytes()),
		})
	}
	for _, id := range sortedKeys(op.Services) {
		s := op.Services[id]
		doc.Service = append(doc.Service, legacyService{ID: "#" + id, Type: s.Type, ServiceEndpoint: s.Endpoint})
	}
	return doc, nil
}

func (p *PLC) handleDoc(w http.ResponseWriter, r *http.Request) {
	did, op, ok := p.pathData(w, r)
	if !ok {
		return
	}
	doc, ferr := formatDidDoc(did, op)
	if ferr != nil {
		writePLCError(w, &PLCError{Status: http.StatusBadRequest, Message: ferr.Error()})
		return
	}
	b, _ := json.Marshal(doc)
	w.Header().Set("Content-Type", "application/did+ld+json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// activeOps copies the DID's non-nullified operations.
func (p *PLC) activeOps(did string) []didplc.OpEnum {
	p.mu.Lock()
	defer p.mu.Unlock()
	ops := p.activeLocked(did)
	out := make([]didplc.OpEnum, 0, len(ops))
	for _, e := range ops {
		out = append(out, cloneOpEnum(e.op))
	}
	return out
}

// writeLog answers v, or the "DID not registered" 404 when it holds no
// entries (n is 0).
func writeLog(w http.ResponseWriter, did string, n int, v any) {
	if n == 0 {
		writePLCError(w, notRegistered(did))
		return
	}
	writeJSON(w, http.StatusOK, v)
}

func (p *PLC) handleLog(w http.ResponseWriter, r *http.Request) {
	did := r.PathValue("did")
	ops := p.activeOps(did)
	writeLog(w, did, len(ops), ops)
}

func (p *PLC) handleLast(w http.ResponseWriter, r *http.Request) {
	did := r.PathValue("did")
	ops := p.activeOps(did)
	var last *didplc.OpEnum // a pointer: OpEnum marshals with a pointer receiver
	if len(ops) > 0 {
		last = &ops[len(ops)-1]
	}
	writeLog(w, did, len(ops), last)
}

func (p *PLC) handleAudit(w http.ResponseWriter, r *http.Request) {
	did := r.PathValue("did")
	log := p.Log(did)
	writeLog(w, did, len(log), log)
}
