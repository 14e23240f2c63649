// A Helia node for fastswap's interop tests and peer benchmarks.
//
// Protocol (one JSON object per line):
//   stdin  <- {"id": N, "op": "...", ...args}
//   stdout -> {"id": N, "ok": true, ...result} | {"id": N, "ok": false, "error": "..."}
//   stdout -> {"event": "ready", ...info} once, after the node has started
// Everything else (logs, warnings) goes to stderr, so stdout carries only protocol lines.
// Besides Bitswap, identify and ping (/ipfs/ping/1.0.0) the node serves /fastswap/echo/1.0.0;
// commands `echo {multiaddr|peer, nbytes, seed}` and `ping {multiaddr|peer, count}` are the
// client sides.
//
// The libp2p configuration is explicit and minimal on purpose: Helia's defaults
// (@helia/libp2p libp2pDefaults, helia's createHelia) add public bootstrap peers, mDNS, the
// DHT, autoNAT, UPnP, relays, WebRTC, auto-TLS, delegated HTTP routing and trustless HTTP
// gateways, all of which dial off the machine. Here the only transport is TCP on 127.0.0.1,
// the only block broker is Bitswap and there are no routers besides libp2p's own (which, with
// no DHT and no delegated routers, finds nothing): peers are reached only by explicit dials.

import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createInterface } from 'node:readline'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { withBitswap } from '@helia/bitswap'
import { withLibp2pLight } from '@helia/libp2p'
import { globSource, unixfs } from '@helia/unixfs'
import { identify } from '@libp2p/identify'
import { mplex } from '@libp2p/mplex'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { MemoryBlockstore } from 'blockstore-core'
import { createHeliaLight } from 'helia'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced, trickle } from 'ipfs-unixfs-importer/layout'
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
      services: { identify: identify(), ping: ping() }
    }
  )
)

const fs = unixfs(helia)

// files of a directory fetched at once by the `tree` command
const TREE_FILES_AT_ONCE = 16

// ---- /fastswap/echo/1.0.0 (as tests/peers/pylibp2p_driver.py serves it) --------------------
// Every byte read is written back until the remote closes its write side; then we close ours.
// libp2p 3 streams are message streams: async-iterable for reading, send() returning false
// when the write buffer wants draining (then wait for onDrain), close() ends our write side.

const ECHO_PROTOCOL = '/fastswap/echo/1.0.0'
const MAX_ECHO_BYTES = 1 << 30

async function echoHandler (stream) {
  try {
    for await (const chunk of stream) {
      if (!stream.send(chunk)) await stream.onDrain({ signal: AbortSignal.timeout(60_000) })
    }
    await stream.close({ signal: AbortSignal.timeout(60_000) })
  } catch (err) {
    log('echo handler:', err?.message ?? err)
    stream.abort(err)
  }
}

// Python's random.Random(seed).randbytes(n) (MT19937, init_by_array of the seed's 32-bit
// words), so the echo client streams exactly tests/peers/pylibp2p.py stream_payload(n, seed)
// and the test can compute the expected sha256 on its own.
function pythonRandbytes (seed, n) {
  const mt = new Uint32Array(624)
  let mti = 625
  const initGenrand = (s) => {
    mt[0] = s >>> 0
    for (mti = 1; mti < 624; mti++) {
      const prev = mt[mti - 1] ^ (mt[mti - 1] >>> 30)
      mt[mti] = (Math.imul(1812433253, prev) + mti) >>> 0
    }
  }
  // the seed's absolute value as little-endian 32-bit words (at least one)
  let big = BigInt(Math.abs(seed))
  const key = []
  do { key.push(Number(big & 0xffffffffn)); big >>= 32n } while (big > 0n)
  initGenrand(19650218)
  let i = 1
  let j = 0
  for (let k = Math.max(624, key.length); k > 0; k--) {
    const prev = mt[i - 1] ^ (mt[i - 1] >>> 30)
    mt[i] = ((mt[i] ^ Math.imul(prev, 1664525)) + key[j] + j) >>> 0
    i++; j++
    if (i >= 624) { mt[0] = mt[623]; i = 1 }
    if (j >= key.length) j = 0
  }
  for (let k = 623; k > 0; k--) {
    const prev = mt[i - 1] ^ (mt[i - 1] >>> 30)
    mt[i] = ((mt[i] ^ Math.imul(prev, 1566083941)) - i) >>> 0
    i++
    if (i >= 624) { mt[0] = mt[623]; i = 1 }
  }
  mt[0] = 0x80000000
  mti = 624
  const next = () => {
    if (mti >= 624) {
      for (let kk = 0; kk < 624; kk++) {
        const y = (mt[kk] & 0x80000000) | (mt[(kk + 1) % 624] & 0x7fffffff)
        mt[kk] = (mt[(kk + 397) % 624] ^ (y >>> 1) ^ ((y & 1) ? 0x9908b0df : 0)) >>> 0
      }
      mti = 0
    }
    let y = mt[mti++]
    y ^= y >>> 11
    y ^= (y << 7) & 0x9d2c5680
    y ^= (y << 15) & 0xefc60000
    y ^= y >>> 18
    return y >>> 0
  }
  // getrandbits(8n): 32-bit words, least significant first; a short last word keeps its top
  // bits; to_bytes(n, 'little') then lays them out in that order
  const out = Buffer.alloc(n)
  let off = 0
  while (n - off >= 4) {
    out.writeUInt32LE(next(), off)
    off += 4
  }
  const rest = n - off
  if (rest > 0) {
    const w = next() >>> (32 - rest * 8)
    for (let b = 0; b < rest; b++) out[off + b] = (w >>> (8 * b)) & 0xff
  }
  return out
}

function dialTarget (cmd) {
  if (cmd.multiaddr != null) return multiaddr(cmd.multiaddr)
  if (cmd.peer != null) return peerIdFromString(cmd.peer)
  throw new Error('give "multiaddr" or "peer"')
}

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
  if (cmd.trickle) {
    if (!cmd.maxChildren) throw new Error('trickle needs maxChildren (its default is not Helia\'s)')
    opts.layout = trickle({ maxChildrenPerNode: cmd.maxChildren })
  }
  if (cmd.wrap) opts.wrapWithDirectory = true
  return opts
}

// what addAll imports: Helia's own globSource over a directory (`glob`: its parent is the
// glob's cwd, so every path starts with the directory's name), or explicit entries
// [{path, file}] in the order given (no `file`: a directory)
async function * addAllSource (cmd) {
  if (cmd.glob != null) {
    const dir = cmd.glob.replace(/\/+$/, '')
    const cut = dir.lastIndexOf('/')
    const base = dir.slice(cut + 1)
    yield * globSource(dir.slice(0, cut) || '/', `${base}/**/*`, { hidden: Boolean(cmd.hidden) })
    return
  }
  for (const entry of cmd.entries ?? []) {
    yield {
      path: entry.path,
      content: entry.file != null ? createReadStream(entry.file, { highWaterMark: 1 << 20 }) : undefined
    }
  }
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

  async addAll (cmd) {
    // @helia/unixfs addAll: every entry it yields (files first, the root last)
    const entries = []
    for await (const entry of fs.addAll(addAllSource(cmd), importerOptions(cmd))) {
      entries.push({ path: entry.path, cid: entry.cid.toString() })
    }
    if (entries.length === 0) throw new Error('addAll imported nothing')
    return { cid: entries[entries.length - 1].cid, entries }
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
    // fetch (over Bitswap if needed) and hash the file's bytes; never kept in memory whole.
    // hash: false only drains them (a benchmark hashes afterwards, outside its clock)
    const cid = CID.parse(cmd.cid)
    const hash = cmd.hash === false ? null : createHash('sha256')
    let size = 0
    for await (const chunk of fs.cat(cid, { signal: signalFor(cmd) })) {
      hash?.update(chunk)
      size += chunk.byteLength
    }
    return hash === null ? { size } : { sha256: hash.digest('hex'), size }
  },

  async tree (cmd) {
    // fetch a UnixFS file or directory tree (over Bitswap if needed) as a Helia user would:
    // @helia/unixfs's own `ls` of each directory and `cat` of its files, TREE_FILES_AT_ONCE at
    // a time, and describe it: every entry's path (relative to the root, "/"-separated; the
    // root's is ""), type, and for files size and sha256 (null with hash: false, which keeps
    // hashing out of a benchmark's clock). Nothing is kept; `bytes` is the files' total.
    const signal = signalFor(cmd)
    const entries = []
    let bytes = 0
    async function file (cid, path) {
      const hash = cmd.hash === false ? null : createHash('sha256')
      let size = 0
      for await (const chunk of fs.cat(cid, { signal })) {
        hash?.update(chunk)
        size += chunk.byteLength
      }
      bytes += size
      entries.push({ path, type: 'file', size, sha256: hash === null ? null : hash.digest('hex') })
    }
    async function visit (cid, path) {
      const st = await fs.stat(cid, { signal })
      if (st.type !== 'directory') return file(cid, path)
      entries.push({ path, type: 'directory' })
      const children = []
      for await (const entry of fs.ls(cid, { signal })) children.push(entry)
      let next = 0
      const worker = async () => {
        while (next < children.length) {
          const entry = children[next++]
          await visit(entry.cid, path === '' ? entry.name : `${path}/${entry.name}`)
        }
      }
      await Promise.all(Array.from({ length: TREE_FILES_AT_ONCE }, worker))
    }
    await visit(CID.parse(cmd.cid), '')
    return { entries, bytes }
  },

  async echo (cmd) {
    // stream nbytes of stream_payload(nbytes, seed) to the remote echo handler while reading
    // the echo; half-close after the last byte and read until the remote closes
    const nbytes = cmd.nbytes ?? 0
    if (!Number.isInteger(nbytes) || nbytes < 0 || nbytes > MAX_ECHO_BYTES) {
      throw new Error(`nbytes must be an integer between 0 and ${MAX_ECHO_BYTES}`)
    }
    const chunkSize = cmd.chunk ?? 256 * 1024
    const signal = signalFor(cmd)
    const payload = pythonRandbytes(cmd.seed ?? 0, nbytes)
    const sentHash = createHash('sha256').update(payload).digest('hex')
    const t0 = performance.now()
    const conn = await helia.libp2p.dial(dialTarget(cmd), { signal })
    const stream = await conn.newStream(cmd.protocol ?? ECHO_PROTOCOL, { signal })
    const writer = (async () => {
      for (let off = 0; off < nbytes; off += chunkSize) {
        if (!stream.send(payload.subarray(off, off + chunkSize))) await stream.onDrain({ signal })
      }
      await stream.close({ signal })
    })()
    const got = createHash('sha256')
    let received = 0
    try {
      for await (const chunk of stream) {
        const bufs = chunk instanceof Uint8Array ? [chunk] : [...chunk]
        for (const b of bufs) {
          got.update(b)
          received += b.byteLength
        }
        if (received > nbytes) throw new Error('the echo sent back more than was written')
        if (signal.aborted) throw new Error('echo timed out')
      }
      await writer
    } catch (err) {
      stream.abort(err)
      await writer.catch(() => {})
      throw err
    }
    const seconds = (performance.now() - t0) / 1000
    return {
      sent: nbytes,
      received,
      sha256Sent: sentHash,
      sha256Received: got.digest('hex'),
      seconds,
      MBps: seconds > 0 ? nbytes / seconds / 1e6 : null,
      muxer: conn.multiplexer ?? null
    }
  },

  async payload_sha256 (cmd) {
    // the generator alone, so tests can check it against Python's random.Random
    return { sha256: createHash('sha256').update(pythonRandbytes(cmd.seed ?? 0, cmd.nbytes)).digest('hex') }
  },

  async ping (cmd) {
    const rtts = []
    for (let i = 0; i < (cmd.count ?? 1); i++) {
      rtts.push(await helia.libp2p.services.ping.ping(dialTarget(cmd), { signal: signalFor(cmd) }))
    }
    return { rtts }
  },

  async has (cmd) {
    return { has: await helia.blockstore.has(CID.parse(cmd.cid), { offline: true }) }
  },

  async putBlocks (cmd) {
    // store blocks given as files ({cid, path}), as `ipfs block put` would: how the
    // benchmark matrix gives every seeder the same DAG (benchmarks/matrix/systems.py)
    for (const b of cmd.blocks) {
      await helia.blockstore.put(CID.parse(b.cid), await readFile(b.path))
    }
    return { count: cmd.blocks.length }
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
await helia.libp2p.handle(ECHO_PROTOCOL, echoHandler)
send({ event: 'ready', ...info() })

// commands run concurrently (a slow `cat` must not block `info`); answers carry the id
const rl = createInterface({ input: process.stdin, crlfDelay: Infinity })
rl.on('line', (line) => {
  if (line.trim() !== '') handle(line)
})
// the parent went away: do not linger as an orphan
rl.on('close', shutdown)
