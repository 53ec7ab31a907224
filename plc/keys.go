package plc

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

// maxKeyFileBytes bounds what LoadPrivateKeyFile reads: a key is < 100 bytes.
const maxKeyFileBytes = 4096

// ParsePrivateKey parses a private key as text. Two encodings are accepted:
//   - multibase ("z...", as goat prints it): the curve is in the encoding;
//     if keyType is given it must match;
//   - hex (64 hex digits, optionally "0x"-prefixed, as the official example
//     and browser tools print it): keyType picks the curve, "k256"
//     (default) or "p256".
//
// Surrounding whitespace is trimmed. Errors wrap ErrInvalidKey and never
// include the key material.
func ParsePrivateKey(text, keyType string) (atcrypto.PrivateKey, error) {
	kt := strings.ToLower(strings.TrimSpace(keyType))
	switch kt {
	case "", "k256", "p256":
	default:
		return nil, fmt.Errorf("%w: unknown key type %q (want k256 or p256)", ErrInvalidKey, keyType)
	}
	t := strings.TrimSpace(text)
	switch {
	case t == "":
		return nil, fmt.Errorf("%w: empty", ErrInvalidKey)
	case strings.HasPrefix(t, "did:key:"):
		return nil, fmt.Errorf("%w: this is a public did:key, not a private key", ErrInvalidKey)
	case strings.HasPrefix(t, "z"):
		k, err := atcrypto.ParsePrivateMultibase(t)
		if err != nil {
			// atcrypto's messages are fixed strings, but do not rely on it.
			return nil, fmt.Errorf("%w: not a K-256 or P-256 multibase private key", ErrInvalidKey)
		}
		if kt != "" && kt != curveOf(k) {
			return nil, fmt.Errorf("%w: multibase key is %s, but key type %s was given", ErrInvalidKey, curveOf(k), kt)
		}
		return k, nil
	}
	h := strings.TrimPrefix(strings.TrimPrefix(t, "0x"), "0X")
	if len(h) != 64 {
		return nil, fmt.Errorf("%w: expected multibase (z...) or 64 hex digits", ErrInvalidKey)
	}
	b, err := hex.DecodeString(h)
	if err != nil {
		return nil, fmt.Errorf("%w: expected multibase (z...) or 64 hex digits", ErrInvalidKey)
	}
	if kt == "p256" {
		k, err := atcrypto.ParsePrivateBytesP256(b)
		if err != nil {
			return nil, fmt.Errorf("%w: not a valid P-256 private key", ErrInvalidKey)
		}
		return k, nil
	}
	k, err := atcrypto.ParsePrivateBytesK256(b)
	if err != nil {
		return nil, fmt.Errorf("%w: not a valid K-256 private key", ErrInvalidKey)
	}
	return k, nil
}

func curveOf(k atcrypto.PrivateKey) string {
	switch k.(type) {
	case *atcrypto.PrivateKeyP256:
		return "p256"
	case *atcrypto.PrivateKeyK256:
		return "k256"
	}
	return "unknown"
}

// LoadPrivateKeyFile reads a key file and parses it with ParsePrivateKey.
func LoadPrivateKeyFile(path, keyType string) (atcrypto.PrivateKey, error) {
	b, err := fsutil.ReadUpTo(path, maxKeyFileBytes)
	if errors.Is(err, fsutil.ErrTooLarge) {
		return nil, fmt.Errorf("key file %s: %w: file too large to be a key", path, ErrInvalidKey)
	}
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	k, err := ParsePrivateKey(string(b), keyType)
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// DIDKey returns the public did:key of a private key.
func DIDKey(key atcrypto.PrivateKey) (string, error) {
	pub, err := key.PublicKey()
	if err != nil {
		return "", fmt.Errorf("derive public key: %w", err)
	}
	return pub.DIDKey(), nil
}

// GenerateK256 creates a new K-256 key, the curve the PLC ecosystem uses by
// default for rotation keys.
func GenerateK256() (*atcrypto.PrivateKeyK256, error) {
	k, err := atcrypto.GeneratePrivateKeyK256()
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// WriteKeyFile writes key as multibase plus "\n", mode 0600. It refuses to
// overwrite an existing file: losing a rotation key can lock the user out.
// The file appears atomically and complete (temp file, fsync, hard link),
// so a crash never leaves a half-written key under path.
func WriteKeyFile(path string, key atcrypto.PrivateKeyExportable) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("write key file %s: %w (refusing to overwrite a key)", path, fs.ErrExist)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write key file: %w", err)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	name := tmp.Name()
	defer os.Remove(name) // the key stays reachable through path only
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if _, err := tmp.WriteString(key.Multibase() + "\n"); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	// Link, unlike rename, fails if path appeared in the meantime.
	if err := os.Link(name, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write key file %s: %w (refusing to overwrite a key)", path, fs.ErrExist)
		}
		// Some file systems have no hard links: fall back to an exclusive create.
		if err := writeExclusive(path, []byte(key.Multibase()+"\n")); err != nil {
			return err
		}
	}
	if err := fsutil.SyncDir(dir); err != nil {
		return fmt.Errorf("write key file %s: %w", path, err)
	}
	return nil
}

// writeExclusive creates path (failing if it exists) and writes data to it.
func writeExclusive(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("write key file %s: %w (refusing to overwrite a key)", path, fs.ErrExist)
		}
		return fmt.Errorf("write key file: %w", err)
	}
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(path)
		return fmt.Errorf("write key file %s: %w", path, werr)
	}
	return nil
}
