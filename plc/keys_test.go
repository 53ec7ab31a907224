package plc

import (
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluesky-social/indigo/atproto/atcrypto"
)

func TestParsePrivateKey(t *testing.T) {
	k256, _ := atcrypto.GeneratePrivateKeyK256()
	p256, _ := atcrypto.GeneratePrivateKeyP256()
	cases := []struct {
		name, text, keyType string
		want                atcrypto.PrivateKeyExportable
	}{
		{"multibase k256", k256.Multibase(), "", k256},
		{"multibase k256 typed", "  " + k256.Multibase() + "\n", "k256", k256},
		{"multibase p256", p256.Multibase() + "\r\n", "", p256},
		{"hex k256 default", hex.EncodeToString(k256.Bytes()) + "\n", "", k256},
		{"hex k256 0x upper", "0x" + strings.ToUpper(hex.EncodeToString(k256.Bytes())), "K256", k256},
		{"hex p256", hex.EncodeToString(p256.Bytes()), "p256", p256},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParsePrivateKey(c.text, c.keyType)
			if err != nil {
				t.Fatal(err)
			}
			if !got.Equal(c.want) || pubDID(t, got) != pubDID(t, c.want) {
				t.Error("parsed a different key")
			}
		})
	}
}

func TestParsePrivateKeyErrorsHideInput(t *testing.T) {
	k256, _ := atcrypto.GeneratePrivateKeyK256()
	secretHex := hex.EncodeToString(k256.Bytes())
	pub := pubDID(t, k256)
	for name, c := range map[string][2]string{
		"garbage":            {"zzzz-not-a-key-s3cr3t", ""},
		"bad multibase":      {"z" + strings.Repeat("1", 40) + "s3cr3t", ""},
		"short hex":          {secretHex[:40], ""},
		"non-hex":            {strings.Repeat("g", 64), ""},
		"zero scalar":        {strings.Repeat("0", 64), "k256"},
		"curve mismatch":     {k256.Multibase(), "p256"},
		"unknown key type":   {secretHex, "ed25519"},
		"public did:key":     {pub, ""},
		"empty":              {"  \n", ""},
		"hex with junk tail": {secretHex + "ff", ""},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePrivateKey(c[0], c[1])
			if err == nil {
				t.Fatal("no error")
			}
			if !errors.Is(err, ErrInvalidKey) {
				t.Errorf("error does not wrap ErrInvalidKey: %v", err)
			}
			msg := err.Error()
			for _, secret := range []string{strings.TrimSpace(c[0]), secretHex, k256.Multibase(), "s3cr3t"} {
				if len(secret) >= 6 && strings.Contains(msg, secret) {
					t.Errorf("error leaks input: %s", msg)
				}
			}
		})
	}
}

func TestWriteAndLoadKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rotation.key")
	k, err := GenerateK256()
	if err != nil {
		t.Fatal(err)
	}
	if err := WriteKeyFile(path, k); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if string(b) != k.Multibase()+"\n" {
		t.Error("unexpected file content")
	}
	got, err := LoadPrivateKeyFile(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Equal(k) {
		t.Error("loaded a different key")
	}

	// Never overwrite: the old key must survive.
	k2, _ := GenerateK256()
	err = WriteKeyFile(path, k2)
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("overwrite: %v", err)
	}
	if b2, _ := os.ReadFile(path); string(b2) != string(b) {
		t.Error("existing key file was changed")
	}
	// No temp files left behind.
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir has %d entries", len(entries))
	}
	if _, err := LoadPrivateKeyFile(filepath.Join(dir, "missing"), ""); err == nil {
		t.Error("missing file loaded")
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("s3cr3tgarbage\n"), 0o600)
	if _, err := LoadPrivateKeyFile(bad, ""); err == nil || strings.Contains(err.Error(), "s3cr3t") {
		t.Errorf("bad file: %v", err)
	}
}
