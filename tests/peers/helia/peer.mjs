// A Helia node for fastswap's interop tests and peer benchmarks.
//
// Protocol (one JSON object per line):
//   stdin  <- {"id": N, "op": "...", ...args}
//   stdout -> {"id": N, "ok": true, ...result} | {"id": N, "ok": false, "error": "..."}
//   stdout -> {"event": "ready", ...info} once, after the node has started
// Everything else (logs, warnings) goes to stderr, so stdout carries only protocol lines.
//
// The libp2p configuration is explicit and minimal on purpose: Helia's defaults
// (@helia/libp2p libp2pDefaults, helia's createHelia) add public bootstrap peers, mDNS, the
// DHT, autoNAT, UPnP, relays, WebRTC, auto-TLS, delegated HTTP routing and trustless HTTP
// gateways, all of which dial off the machine. Here the only transport is TCP on 127.0.0.1,
// the only block broker is Bitswap and there are no routers besides libp2p's own (which, with
// no DHT and no delegated routers, finds nothing): peers are reached only by explicit dials.

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { mplex } from '@libp2p/mplex'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryBlockstore } from 'blockstore-core'
import { createHeliaLight } from 'helia'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { CID } from 'multiformats/cid'

function parseArgs (argv) {
  const args = { listen: '/ip4/127.0.0.1/tcp/0', mplex: true }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--listen') args.listen = argv[++i]
    else if (a === '--no-mplex') args.mplex = false
    else throw new Error(`unknown argument ${a}`)
  }
  return args
}

function log (...parts) {
  process.stderr.write(`[helia-peer] ${parts.join(' ')}\n`)
}

function send (obj) {
  process.stdout.write(JSON.stringify(obj) + '\n')
}

const args = parseArgs(process.argv.slice(2))

const helia = withBitswap(
  withLibp2pLight(
    createHeliaLight({
      blockstore: new MemoryBlockstore(),
      routers: [],
      blockBrokers: []
    }),
    {
      addresses: { listen: [args.listen] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      // yamux first: it is what Kubo and fastswap prefer; mplex only as a fallback
      streamMuxers: args.mplex ? [yamux(), mplex()] : [yamux()],
      peerDiscovery: [],
      services: { identify: identify() }
    }
  )
)

const fs = unixfs(helia)

function info () {
  const libp2p = helia.libp2p
  return {
    peerId: libp2p.peerId.toString(),
    multiaddrs: libp2p.getMultiaddrs().map((ma) => ma.toString()),
    protocols: libp2p.getProtocols()
  }
}

function importerOptions (cmd) {
  // Unset fields keep @helia/unixfs defaults (CIDv1, raw leaves, 1 MiB chunks, 1024 links).
  const opts = {}
  if (cmd.cidVersion !== undefined && cmd.cidVersion !== null) opts.cidVersion = cmd.cidVersion
  if (cmd.rawLeaves !== undefined && cmd.rawLeaves !== null) opts.rawLeaves = cmd.rawLeaves
  if (cmd.chunkSize) opts.chunker = fixedSize({ chunkSize: cmd.chunkSize })
  if (cmd.maxChildren) opts.layout = balanced({ maxChildrenPerNode: cmd.maxChildren })
  if (cmd.reduceSingleLeafToSelf !== undefined && cmd.reduceSingleLeafToSelf !== null) {
    opts.reduceSingleLeafToSelf = cmd.reduceSingleLeafToSelf
  }
  if (cmd.profile) opts.profile = cmd.profile
  return opts
}

function signalFor (cmd) {
  // every network wait is bounded; the Python side bounds it too, and kills us if needed
  return AbortSignal.timeout(cmd.timeoutMs ?? 60_000)
}

const handlers = {
  async info () {
    return info()
  },

  async add (cmd) {
    const opts = importerOptions(cmd)
    let cid
    if (cmd.path != null) {
      cid = await fs.addByteStream(createReadStream(cmd.path, { highWaterMark: 1 << 20 }), opts)
    } else if (cmd.dataB64 != null) {
      cid = await fs.addBytes(Buffer.from(cmd.dataB64, 'base64'), opts)
    } else {
      throw new Error('add needs "path" or "dataB64"')
    }
    return { cid: cid.toString() }
  },

  async dial (cmd) {
    const conn = await helia.libp2p.dial(multiaddr(cmd.multiaddr), { signal: signalFor(cmd) })
    return { peerId: conn.remotePeer.toString(), remoteAddr: conn.remoteAddr.toString() }
  },

  async hangup (cmd) {
    await helia.libp2p.hangUp(multiaddr(cmd.multiaddr))
    return {}
  },

  async peers () {
    return {
      connections: helia.libp2p.getConnections().map((c) => ({
        peerId: c.remotePeer.toString(),
        remoteAddr: c.remoteAddr.toString(),
        multiplexer: c.multiplexer ?? null,
        encryption: c.encryption ?? null
      }))
    }
  },

  async cat (cmd) {
    // fetch (over Bitswap if needed) and hash the file's bytes; never kept in memory whole
    const cid = CID.parse(cmd.cid)
    const hash = createHash('sha256')
    let size = 0
    for await (const chunk of fs.cat(cid, { signal: signalFor(cmd) })) {
      hash.update(chunk)
      size += chunk.byteLength
    }
    return { sha256: hash.digest('hex'), size }
  },

  async has (cmd) {
    return { has: await helia.blockstore.has(CID.parse(cmd.cid), { offline: true }) }
  },

  async stop () {
    setImmediate(shutdown)
    return {}
  }
}

let stopping = false
async function shutdown () {
  if (stopping) return
  stopping = true
  try {
    await helia.stop()
  } catch (err) {
    log('error while stopping:', err?.stack ?? err)
  }
  process.exit(0)
}

async function handle (line) {
  let cmd
  try {
    cmd = JSON.parse(line)
  } catch (err) {
    send({ id: null, ok: false, error: `bad JSON command: ${err.message}` })
    return
  }
  const handler = handlers[cmd.op]
  if (handler === undefined) {
    send({ id: cmd.id ?? null, ok: false, error: `unknown op ${JSON.stringify(cmd.op)}` })
    return
  }
  try {
    const result = await handler(cmd)
    send({ id: cmd.id ?? null, ok: true, ...result })
  } catch (err) {
    send({ id: cmd.id ?? null, ok: false, error: `${err?.name ?? 'Error'}: ${err?.message ?? err}` })
  }
}

process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

await helia.start()
send({ event: 'ready', ...info() })

// commands run concurrently (a slow `cat` must not block `info`); answers carry the id
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (line.trim() !== '') handle(line)
})
// the parent went away: do not linger as an orphan
rl.on('close', shutdown)
