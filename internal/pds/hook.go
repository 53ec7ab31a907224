//go:build e2e

// The request hook exists only in builds made with -tags e2e, for the
// bench's request count (cmd/atmigrate/bench_hooks.go); hook_release.go is
// the release build's no-op, so release code cannot even call
// SetRequestHook.

package pds

// requestHook, when set, is called once for every HTTP request any Client
// sends (each attempt counts). It exists for the benchmark; see
// SetRequestHook.
var requestHook func()

// SetRequestHook installs fn to be called for every HTTP request sent by
// any Client of this process. Call it once, before any Client is used (it
// is not synchronised); nil removes it.
func SetRequestHook(fn func()) { requestHook = fn }

// noteRequest calls the request hook, if one is set.
func noteRequest() {
	if h := requestHook; h != nil {
		h()
	}
}
