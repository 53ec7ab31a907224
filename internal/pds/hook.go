package pds

// requestHook, when set, is called once for every HTTP request any Client
// sends (each attempt counts). It exists for the benchmark; see
// SetRequestHook.
var requestHook func()

// SetRequestHook installs fn to be called for every HTTP request sent by
// any Client of this process. Call it once, before any Client is used (it
// is not synchronised); nil removes it.
func SetRequestHook(fn func()) { requestHook = fn }
