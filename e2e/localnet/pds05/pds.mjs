// The entry point of @atproto/pds 0.5.x for ../server.js. 0.5.x is an ES
// module, which a CommonJS require() cannot load; server.js import()s this
// file, and the import below resolves from this directory's node_modules
// (the npm project of 0.5.x, separate from the 0.4.x one in ..).
export * from '@atproto/pds'
