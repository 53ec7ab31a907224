// Package timeline records what happens when during a run, and draws it.
//
// A Recorder is told about each stage (through the ui.Progress it wraps),
// each HTTP exchange (as a pds.Observer) and the process's CPU (sampled
// every CPUInterval). Its Timeline is what may be shared: the servers are
// named by their role in the move (old PDS, new PDS, PLC directory, relay,
// AppView), never by URL, and requests by their XRPC method, never with a
// DID, header, token, body or query string. WriteSVG draws one or more
// timelines on one time scale, with the standard library only.
package timeline
