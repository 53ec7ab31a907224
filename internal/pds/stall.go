package pds

import "github.com/atmigrate/atmigrate/internal/stall"

// errStalled marks an attempt that internal/stall ended: no answer, or a
// body that moved too little for too long. It is transient (retried a
// bounded number of times, see internal/retry).
var errStalled = stall.ErrStalled

// callClass is how much server time an XRPC call needs before its answer
// starts (see stall.Class): an import applies the whole repo first; the
// calls below store, create, sign or mail before they answer; everything
// else is a read or a small write the server answers at once.
func callClass(nsid string) stall.Class {
	switch nsid {
	case "com.atproto.repo.importRepo":
		return stall.LongWork
	case "com.atproto.repo.uploadBlob",
		"com.atproto.sync.getRepo",
		"com.atproto.server.createAccount",
		"com.atproto.server.activateAccount",
		"com.atproto.server.deactivateAccount",
		"com.atproto.repo.applyWrites",
		"app.bsky.actor.putPreferences",
		"com.atproto.identity.requestPlcOperationSignature",
		"com.atproto.identity.signPlcOperation",
		"com.atproto.identity.submitPlcOperation":
		return stall.Work
	case "com.atproto.server.createSession":
		return stall.Login
	}
	return stall.Quick
}
