package fakenet

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
)

// XRPCError is an error answer: HTTP Status with the body
// {"error": Name, "message": Message}. Fail and PDSOptions.OnImport take
// one to make the fake PDS answer exactly that.
type XRPCError struct {
	Status  int
	Name    string
	Message string
	// Header is sent with the answer (RateLimit-Reset on a 429, say).
	Header map[string]string
}

func (e *XRPCError) Error() string {
	return fmt.Sprintf("%d %s: %s", e.Status, e.Name, e.Message)
}

func invalidRequest(msg string) *XRPCError {
	return &XRPCError{Status: http.StatusBadRequest, Name: "InvalidRequest", Message: msg}
}

func namedInvalid(name, msg string) *XRPCError {
	return &XRPCError{Status: http.StatusBadRequest, Name: name, Message: msg}
}

// authRequired is xrpc-server's AuthRequiredError: 401, default name
// AuthenticationRequired, default message "Authentication Required".
func authRequired(name, msg string) *XRPCError {
	if name == "" {
		name = "AuthenticationRequired"
	}
	if msg == "" {
		msg = "Authentication Required"
	}
	return &XRPCError{Status: http.StatusUnauthorized, Name: name, Message: msg}
}

func internalError() *XRPCError {
	return &XRPCError{Status: http.StatusInternalServerError, Name: "InternalServerError", Message: "Internal Server Error"}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeXRPCError(w http.ResponseWriter, err error) {
	var xe *XRPCError
	if !errors.As(err, &xe) {
		xe = internalError()
	}
	for k, v := range xe.Header {
		w.Header().Set(k, v)
	}
	writeJSON(w, xe.Status, map[string]string{"error": xe.Name, "message": xe.Message})
}

// switchboard holds the knobs both fakes share: the down switch, request
// counts and queued failures.
type switchboard struct {
	mu    sync.Mutex
	down  bool
	calls map[string]int
	fails map[string][]*XRPCError
	lose  map[string]int
}

func newSwitchboard() *switchboard {
	return &switchboard{calls: map[string]int{}, fails: map[string][]*XRPCError{}, lose: map[string]int{}}
}

func (s *switchboard) setDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *switchboard) count(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[key]
}

func (s *switchboard) clear(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.fails, key)
}

func (s *switchboard) fail(key string, n int, e *XRPCError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		cp := *e
		s.fails[key] = append(s.fails[key], &cp)
	}
}

func (s *switchboard) loseResponses(key string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lose[key] += n
}

// intercept counts the request under key and, when the server is down,
// drops the connection; it returns a queued failure for key if any, or
// whether this request's response is to be lost. It reports whether the
// request was dropped.
func (s *switchboard) intercept(w http.ResponseWriter, key string) (dropped bool, failure *XRPCError, lose bool) {
	s.mu.Lock()
	s.calls[key]++
	down := s.down
	if !down {
		if q := s.fails[key]; len(q) > 0 {
			failure = q[0]
			s.fails[key] = q[1:]
		} else if s.lose[key] > 0 {
			s.lose[key]--
			lose = true
		}
	}
	s.mu.Unlock()
	if down {
		dropConnection(w)
		return true, nil, false
	}
	return false, failure, lose
}

// serveThenDrop runs h to completion against a discarded recorder, then
// closes the client's connection: the request took effect, the client
// never hears so.
func serveThenDrop(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	h(httptest.NewRecorder(), r)
	dropConnection(w)
}

// dropConnection closes the client's connection without an answer, so the
// client sees EOF or a reset, as from a crashed server or a dead proxy.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

// isoTime formats t like JavaScript's Date.toISOString.
func isoTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// BlobCID returns the CID a PDS gives a blob with these bytes (CIDv1, raw
// codec, sha2-256, base32).
func BlobCID(data []byte) string {
	h, err := multihash.Sum(data, multihash.SHA2_256, -1)
	if err != nil {
		panic(err) // sha2-256 cannot fail
	}
	return cid.NewCidV1(cid.Raw, h).String()
}

// fakeCommitCID is a well-formed dag-cbor CID standing for a repo commit
// the fake does not really hold.
func fakeCommitCID(seed string) string {
	h, err := multihash.Sum([]byte(seed), multihash.SHA2_256, -1)
	if err != nil {
		panic(err)
	}
	return cid.NewCidV1(cid.DagCBOR, h).String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// randomBase32 returns n characters of lower-case base32 (a-z2-7).
func randomBase32(n int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

var b64 = base64.RawURLEncoding

// hs256JWT builds a JWT from header and payload (any JSON-encodable values)
// signed with HMAC-SHA256, like the reference PDS's session tokens.
func hs256JWT(secret []byte, header, payload any) string {
	signing := jwtSigningInput(header, payload)
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte(signing))
	return signing + "." + b64.EncodeToString(mac.Sum(nil))
}

func jwtSigningInput(header, payload any) string {
	h, err := json.Marshal(header)
	if err != nil {
		panic(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		panic(err)
	}
	return b64.EncodeToString(h) + "." + b64.EncodeToString(p)
}

// parsedJWT is a JWT split and decoded, signature unchecked.
type parsedJWT struct {
	header    map[string]any
	payload   map[string]any
	signing   string // header.payload, what the signature covers
	signature []byte
}

func parseJWT(tok string) (*parsedJWT, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return nil, errors.New("not three parts")
	}
	var j parsedJWT
	for i, dst := range []*map[string]any{&j.header, &j.payload} {
		raw, err := b64.DecodeString(parts[i])
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, dst); err != nil {
			return nil, err
		}
	}
	sig, err := b64.DecodeString(parts[2])
	if err != nil {
		return nil, err
	}
	j.signing = parts[0] + "." + parts[1]
	j.signature = sig
	return &j, nil
}

func (j *parsedJWT) claim(name string) string {
	s, _ := j.payload[name].(string)
	return s
}

// base58btc is the Bitcoin base58 encoding that multibase "z" uses.
func base58btc(b []byte) string {
	const alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
	zeros := 0
	for zeros < len(b) && b[zeros] == 0 {
		zeros++
	}
	digits := make([]byte, 0, len(b)*138/100+1) // little-endian base-58 digits
	for _, c := range b[zeros:] {
		carry := int(c)
		for i := range digits {
			carry += int(digits[i]) << 8
			digits[i] = byte(carry % 58)
			carry /= 58
		}
		for carry > 0 {
			digits = append(digits, byte(carry%58))
			carry /= 58
		}
	}
	var sb strings.Builder
	for range zeros {
		sb.WriteByte('1')
	}
	for i := len(digits) - 1; i >= 0; i-- {
		sb.WriteByte(alphabet[digits[i]])
	}
	return sb.String()
}
