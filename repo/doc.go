// Package repo owns the two things atmigrate keeps on disk about an account's
// data: the repo CAR and the blob store.
//
// VerifyCAR reads a repo CAR once, as a stream, and proves it is the
// complete, signed repository it claims to be: every block hashes to its CID,
// the root commit is well formed and signed by one of the keys the caller
// passes (the DID's signing keys, newest first; Summary.SignedBy says which),
// every MST node is present (indigo's tree loader silently accepts missing
// nodes), and every record the MST points at is in the file. It never holds
// the CAR in memory: it keeps a sorted index of block digests (32 bytes a
// record, 40 an MST node with its place in the CAR) and the blob
// references, and walks the MST reading each node back from the CAR file
// (VerifyOptions.CARFile; without one it keeps the node blocks too).
//
// BlobStore is a directory of blob files named by CID. A file only appears
// under its final name after its content hashed to that CID, so "present"
// always means "complete and correct".
package repo
