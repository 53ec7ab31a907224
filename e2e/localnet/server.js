'use strict'

// One server of the local AT Protocol network, one per process:
//
//   node server.js plc <port>
//   node server.js pds <config.json>
//
// The config's pdsVersion picks the PDS: 0.4.x is require()d from this
// directory's node_modules; 0.5.x, an ES module that needs Node >= 22, is
// import()ed through pds05/pds.mjs from its own npm project (pds05/), and
// the Go side runs this script under Node 22 for it.
//
// The Go package github.com/atmigrate/atmigrate/e2e/localnet starts these
// processes, so each server has its own event loop (both PDSes are CPU-bound
// during a migration and must not share a thread). When the server listens it
// prints one line `READY {"url":...,"did":...}` to stdout. It stops on SIGTERM,
// SIGINT, or when stdin closes (the parent went away).

const fs = require('fs')
const path = require('path')
const { pathToFileURL } = require('url')

function fail(msg) {
  process.stderr.write(`localnet: ${msg}\n`)
  process.exit(2)
}

function ready(info) {
  process.stdout.write(`READY ${JSON.stringify(info)}\n`)
}

let stopping = false
function onStop(destroy) {
  const stop = async (why) => {
    if (stopping) return
    stopping = true
    // A server that hangs on shutdown must not keep the test waiting.
    setTimeout(() => process.exit(1), 4000).unref()
    try {
      await destroy()
    } catch (err) {
      process.stderr.write(`localnet: stop after ${why}: ${err}\n`)
      process.exit(1)
    }
    process.exit(0)
  }
  process.on('SIGTERM', () => stop('SIGTERM'))
  process.on('SIGINT', () => stop('SIGINT'))
  // The parent keeps our stdin open; EOF means it is gone.
  process.stdin.on('end', () => stop('stdin closed'))
  process.stdin.on('error', () => stop('stdin error'))
  process.stdin.resume()
}

async function startPLC(port) {
  const { PlcServer, Database } = require('@did-plc/server')
  const plc = PlcServer.create({ db: Database.mock(), port })
  await plc.start()
  onStop(() => plc.destroy())
  ready({ url: `http://localhost:${port}`, did: '' })
}

// appendMail writes one captured mail as a JSON line, synchronously so the
// line is on disk before the XRPC call that sent it returns.
function appendMail(file, template, params, opts) {
  const line = JSON.stringify({
    template,
    to: opts && opts.to ? String(opts.to) : '',
    token: params && params.token ? String(params.token) : '',
    time: new Date().toISOString(),
  })
  const fd = fs.openSync(file, 'a', 0o600)
  try {
    fs.writeSync(fd, line + '\n')
    fs.fsyncSync(fd)
  } finally {
    fs.closeSync(fd)
  }
}

// loadPDS returns the @atproto/pds module of the given version.
async function loadPDS(version) {
  if (version.startsWith('0.4.')) return require('@atproto/pds')
  if (version.startsWith('0.5.')) {
    const major = parseInt(process.versions.node.split('.')[0], 10)
    if (major < 22) fail(`@atproto/pds ${version} needs Node >= 22, this is ${process.version}`)
    const pds = await import(pathToFileURL(path.join(__dirname, 'pds05', 'pds.mjs')).href)
    const installed = require(path.join(__dirname, 'pds05', 'node_modules', '@atproto', 'pds', 'package.json')).version
    if (installed !== version) fail(`pds05 has @atproto/pds ${installed}, want ${version}: run \`make localnet-install\``)
    return pds
  }
  fail(`unknown pdsVersion ${version}`)
}

async function startPDS(cfgFile) {
  const cfg = JSON.parse(fs.readFileSync(cfgFile, 'utf8'))
  for (const k of ['port', 'plcUrl', 'dataDir', 'rotationKeyHex', 'adminPassword', 'jwtSecret']) {
    if (!cfg[k]) fail(`pds config ${cfgFile}: missing ${k}`)
  }
  const version = cfg.pdsVersion || '0.4.217'
  const pds = await loadPDS(version)
  const dataDir = path.resolve(cfg.dataDir)
  const blobDir = path.join(dataDir, 'blobs')
  const blobTmpDir = path.join(dataDir, 'blobs-tmp')
  fs.mkdirSync(blobDir, { recursive: true })
  fs.mkdirSync(blobTmpDir, { recursive: true })
  const mailFile = path.join(dataDir, 'mail.jsonl')

  const env = {
    port: cfg.port,
    hostname: 'localhost',
    serviceDid: `did:web:localhost%3A${cfg.port}`,
    devMode: true,
    version: `${version}-localnet`,
    dataDirectory: dataDir,
    blobstoreDiskLocation: blobDir,
    blobstoreDiskTmpLocation: blobTmpDir,
    didPlcUrl: cfg.plcUrl,
    serviceHandleDomains: ['.test'],
    adminPassword: cfg.adminPassword,
    jwtSecret: cfg.jwtSecret,
    plcRotationKeyK256PrivateKeyHex: cfg.rotationKeyHex,
    inviteRequired: !!cfg.inviteRequired,
    rateLimitsEnabled: !!cfg.rateLimitsEnabled,
    rateLimitBypassKey: cfg.rateLimitsEnabled ? cfg.rateLimitBypassKey || undefined : undefined,
    disableSsrfProtection: true,
    // No AppView or moderation service: nothing may be proxied off this machine.
    bskyAppViewUrl: 'https://appview.invalid',
    bskyAppViewDid: 'did:example:invalid',
    bskyAppViewCdnUrlPattern: 'http://cdn.appview.invalid/%s/%s/%s',
    modServiceUrl: 'https://moderator.invalid',
    modServiceDid: 'did:example:invalid',
    crawlers: [],
    // The default import limit (5 MB) refuses a 20,000-record repo; real
    // PDSes set PDS_MAX_REPO_IMPORT_SIZE for migrations.
    maxImportSize: 1024 * 1024 * 1024,
    ...(cfg.extra || {}),
  }
  const server = await pds.PDS.create(pds.envToCfg(env), pds.envToSecrets(env))

  // Without SMTP the PDS sends no mail; record every mail so tests can read
  // the tokens (PLC operation, email confirmation, ...).
  const mailer = server.ctx.mailer
  const sendTemplate = mailer.sendTemplate.bind(mailer)
  mailer.sendTemplate = async (template, params, opts) => {
    appendMail(mailFile, template, params, opts)
    return sendTemplate(template, params, opts)
  }

  await server.start()
  onStop(() => server.destroy())
  ready({ url: `http://localhost:${cfg.port}`, did: env.serviceDid })
}

async function main() {
  const [kind, arg] = process.argv.slice(2)
  if (kind === 'plc') {
    const port = parseInt(arg, 10)
    if (!(port > 0)) fail('usage: node server.js plc <port>')
    await startPLC(port)
  } else if (kind === 'pds') {
    if (!arg) fail('usage: node server.js pds <config.json>')
    await startPDS(arg)
  } else {
    fail('usage: node server.js plc <port> | pds <config.json>')
  }
}

main().catch((err) => {
  process.stderr.write(`localnet: ${err && err.stack ? err.stack : err}\n`)
  process.exit(1)
})
