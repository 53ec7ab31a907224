// Package diskuse measures what a run's own files take on disk: the bytes
// the file system allocated to every file below a directory (what `du`
// counts, page-rounded on tmpfs), and the peak of that over a run,
// sampled. The measure is what the disk gives out, not what the run meant
// to write, so the peak it reports can be checked against `df`.
package diskuse
