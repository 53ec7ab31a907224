package batch

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/atmigrate/atmigrate/internal/fsutil"
	"github.com/atmigrate/atmigrate/migrate/failure"
)

// Account is one row of a batch's accounts file. Secrets are held in
// memory only: they are never written to batch.json, the state files or
// the reports.
type Account struct {
	// Account is the handle or DID to move (the only required column).
	Account         string
	OldPassword     string
	NewHandle       string
	NewEmail        string
	NewPassword     string
	InviteCode      string
	RotationKeyFile string
	// Line is the row's line number in the file, for error messages.
	Line int
}

// AccountsFile is a parsed accounts file.
type AccountsFile struct {
	Accounts []Account
	// InlineSecrets counts the rows that hold a password written out in
	// the file rather than as env:NAME or file:PATH.
	InlineSecrets int
}

// accountColumns are the accounts file's columns, in their documented order.
var accountColumns = []string{"account", "old_password", "new_handle", "new_email", "new_password", "invite_code", "rotation_key_file"}

// ReadAccountsFile reads a batch's accounts file: CSV with a header row, or
// JSON Lines (one object per line) when the first non-space character is
// '{'. A secret column may hold env:NAME (the variable's value) or
// file:PATH (the file's content, a relative PATH taken from the accounts
// file's directory), so the file itself need hold no password.
func ReadAccountsFile(path string) (*AccountsFile, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &failure.InputError{Msg: "cannot read the accounts file", Hint: "check {accounts}", Err: err}
	}
	defer f.Close()
	af, err := ParseAccounts(f, filepath.Dir(path), os.Getenv)
	if err != nil {
		return nil, &failure.InputError{Msg: "the accounts file " + path + " is not usable", Hint: "see `atmigrate batch --help` for its format", Err: err}
	}
	return af, nil
}

// ParseAccounts parses an accounts file from r; base is the directory that
// file:PATH secrets are relative to, getenv resolves env:NAME.
func ParseAccounts(r io.Reader, base string, getenv func(string) string) (*AccountsFile, error) {
	br := bufio.NewReader(r)
	first, err := firstNonSpace(br)
	if err != nil {
		return nil, err
	}
	var rows []rawAccount
	if first == '{' {
		rows, err = parseJSONLines(br)
	} else {
		rows, err = parseCSV(br)
	}
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, errors.New("no accounts in the file")
	}
	af := &AccountsFile{}
	seen := map[string]int{}
	for _, row := range rows {
		a, inline, err := row.resolve(base, getenv)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", row.line, err)
		}
		key := strings.ToLower(a.Account)
		if prev, dup := seen[key]; dup {
			return nil, fmt.Errorf("line %d: %s is already on line %d", row.line, a.Account, prev)
		}
		seen[key] = row.line
		if inline {
			af.InlineSecrets++
		}
		af.Accounts = append(af.Accounts, a)
	}
	return af, nil
}

// firstNonSpace peeks at the first character that is not white space (or a
// byte-order mark) without consuming it.
func firstNonSpace(br *bufio.Reader) (byte, error) {
	for {
		r, _, err := br.ReadRune()
		if err == io.EOF {
			return 0, errors.New("the file is empty")
		}
		if err != nil {
			return 0, err
		}
		if r == '\ufeff' || r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			continue
		}
		if err := br.UnreadRune(); err != nil {
			return 0, err
		}
		return byte(r), nil
	}
}

type rawAccount struct {
	line   int
	fields map[string]string
}

// normColumn accepts old_password, old-password, Old Password.
func normColumn(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.NewReplacer("-", "_", " ", "_").Replace(s)
	return s
}

func knownColumn(c string) bool {
	for _, k := range accountColumns {
		if k == c {
			return true
		}
	}
	return false
}

func parseCSV(r io.Reader) ([]rawAccount, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("read the header row: %w", err)
	}
	cols := make([]string, len(header))
	hasAccount := false
	for i, h := range header {
		c := normColumn(strings.TrimPrefix(h, "\ufeff"))
		if !knownColumn(c) {
			return nil, fmt.Errorf("unknown column %q in the header row (columns: %s)", h, strings.Join(accountColumns, ", "))
		}
		cols[i] = c
		hasAccount = hasAccount || c == "account"
	}
	if !hasAccount {
		return nil, fmt.Errorf("the header row has no account column (it must name the columns: %s)", strings.Join(accountColumns, ", "))
	}
	var rows []rawAccount
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err // a csv.ParseError names the line
		}
		line, _ := cr.FieldPos(0) // only after a record was read: it panics otherwise
		if len(rec) > len(cols) {
			return nil, fmt.Errorf("line %d: %d fields, the header has %d", line, len(rec), len(cols))
		}
		blank := true
		row := rawAccount{line: line, fields: map[string]string{}}
		for i, v := range rec {
			v = strings.TrimSpace(v)
			row.fields[cols[i]] = v
			blank = blank && v == ""
		}
		if !blank {
			rows = append(rows, row)
		}
	}
	return rows, nil
}

func parseJSONLines(r io.Reader) ([]rawAccount, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	var rows []rawAccount
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 || text[0] == '#' {
			continue
		}
		var obj map[string]any
		if err := json.Unmarshal(text, &obj); err != nil {
			return nil, fmt.Errorf("line %d: not a JSON object: %w", line, err)
		}
		row := rawAccount{line: line, fields: map[string]string{}}
		for k, v := range obj {
			c := normColumn(k)
			if !knownColumn(c) {
				return nil, fmt.Errorf("line %d: unknown field %q (fields: %s)", line, k, strings.Join(accountColumns, ", "))
			}
			s, ok := v.(string)
			if !ok && v != nil {
				return nil, fmt.Errorf("line %d: %s must be a string", line, k)
			}
			row.fields[c] = strings.TrimSpace(s)
		}
		rows = append(rows, row)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return rows, nil
}

// maxSecretFileBytes bounds a file: secret (a password, an invite code):
// a path mistyped onto a large file or a device is an error, not a hang.
const maxSecretFileBytes = 64 << 10

// resolve turns a raw row into an account, reading env: and file:
// secrets. inline reports a password written out in the file.
func (row rawAccount) resolve(base string, getenv func(string) string) (a Account, inline bool, err error) {
	f := row.fields
	a = Account{
		Account:   f["account"],
		NewHandle: f["new_handle"],
		NewEmail:  f["new_email"],
		Line:      row.line,
	}
	if a.Account == "" {
		return a, false, errors.New("the account column is empty")
	}
	secret := func(col string) (string, error) {
		v := f[col]
		switch {
		case v == "":
			return "", nil
		case strings.HasPrefix(v, "env:"):
			name := strings.TrimPrefix(v, "env:")
			val := getenv(name)
			if val == "" {
				return "", fmt.Errorf("%s: the environment variable %s is not set", col, name)
			}
			return val, nil
		case strings.HasPrefix(v, "file:"):
			p := strings.TrimPrefix(v, "file:")
			if !filepath.IsAbs(p) && base != "" {
				p = filepath.Join(base, p)
			}
			b, err := fsutil.ReadUpTo(p, maxSecretFileBytes)
			if errors.Is(err, fsutil.ErrTooLarge) {
				return "", fmt.Errorf("%s: the file %s is %w for a password or token (is the path right?)", col, p, err)
			}
			if err != nil {
				// The path is not a secret; the error never holds the content.
				return "", fmt.Errorf("%s: %w", col, err)
			}
			val := strings.TrimRight(string(b), "\r\n")
			if val == "" {
				return "", fmt.Errorf("%s: the file %s is empty", col, p)
			}
			return val, nil
		}
		if col == "old_password" || col == "new_password" {
			inline = true
		}
		return v, nil
	}
	if a.OldPassword, err = secret("old_password"); err != nil {
		return a, false, err
	}
	if a.NewPassword, err = secret("new_password"); err != nil {
		return a, false, err
	}
	if a.InviteCode, err = secret("invite_code"); err != nil {
		return a, false, err
	}
	if k := f["rotation_key_file"]; k != "" {
		k = strings.TrimPrefix(k, "file:")
		if !filepath.IsAbs(k) && base != "" {
			k = filepath.Join(base, k)
		}
		a.RotationKeyFile = k
	}
	return a, inline, nil
}

// ReadTokensFile reads a CSV of account,token pairs (a header row
// "account,token" is allowed). Keys are the account as written in the
// accounts file or its DID.
func ReadTokensFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, &failure.InputError{Msg: "cannot read the tokens file", Hint: "check {tokens}", Err: err}
	}
	defer f.Close()
	tokens, err := ParseTokens(f)
	if err != nil {
		return nil, &failure.InputError{Msg: "the tokens file " + path + " is not usable", Hint: "one account,token pair per line", Err: err}
	}
	return tokens, nil
}

// ParseTokens parses account,token lines.
func ParseTokens(r io.Reader) (map[string]string, error) {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	out := map[string]string{}
	for first := true; ; first = false {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) != 2 {
			return nil, fmt.Errorf("line %d: want account,token", line)
		}
		acct, tok := strings.TrimSpace(rec[0]), strings.TrimSpace(rec[1])
		if first && normColumn(acct) == "account" && normColumn(tok) == "token" {
			continue
		}
		if acct == "" || tok == "" {
			return nil, fmt.Errorf("line %d: empty account or token", line)
		}
		out[strings.ToLower(acct)] = tok
	}
	return out, nil
}
