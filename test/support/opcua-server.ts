/**
 * A node-opcua server for tests and the benchmark, run as its own process
 * (`node --import tsx test/support/opcua-server.ts --port N --pki DIR [--items N]`) so a test can
 * kill it and start it again on the same port with the same certificate. Every PKI (server, user)
 * lives under `--pki` (test-env-notes §4: never ~/.config). Endpoints: None, Sign and
 * SignAndEncrypt with Basic256Sha256 and Aes128_Sha256_RsaOaep; identities: anonymous, user
 * `operator` / `s3cret`, and X509 (any certificate the user PKI accepts).
 *
 * `--no-subscriptions` makes every CreateSubscription fail (a server without the Subscription service set).
 *
 * Address space (namespace 1): Objects/Plant/Boiler with Temperature (Double), Counter (Int32),
 * Running (Boolean), Mode (String), Blob (ByteString), Pressure (Double, read-only), Limited (Int32,
 * refuses values above 100 with BadOutOfRange); node ids `ns=1;s=<name>`. With `--items N`,
 * Objects/Items holds Item0..Item<N-1> (Double, `ns=1;s=Item<i>`).
 *
 * stdin commands, one per line, each answered with one line:
 *   set <name> <json>   → OK          get <name> → VALUE <json>
 *   tick <ms>           → OK  (every ms, every Item i gets value+1; `tick 0` stops)
 *   drop-subscriptions  → VALUE <count>  (deletes every subscription; sessions stay)
 *   writes <name>       → VALUE <count>  (writes a client made to the variable)
 * stdout: `READY <port>` once listening.
 */
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { DataType, MessageSecurityMode, OPCUACertificateManager, OPCUAServer, SecurityPolicy, StatusCodes, Variant } from 'node-opcua'

function arg(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`)
  const value = i >= 0 ? process.argv[i + 1] : fallback
  if (value === undefined) throw new Error(`--${name} is required`)
  return value
}

const port = Number(arg('port'))
const pki = arg('pki')
const items = Number(arg('items', '0'))
/** a server that refuses subscriptions (clients must poll) */
const noSubscriptions = process.argv.includes('--no-subscriptions')

interface Slot {
  dataType: DataType
  value: unknown
  writable: boolean
  limit?: number
  /** writes clients made */
  writes: number
}

const slots = new Map<string, Slot>([
  ['Temperature', { dataType: DataType.Double, value: 21.5, writable: true, writes: 0 }],
  ['Counter', { dataType: DataType.Int32, value: 7, writable: true, writes: 0 }],
  ['Running', { dataType: DataType.Boolean, value: true, writable: true, writes: 0 }],
  ['Mode', { dataType: DataType.String, value: 'auto', writable: true, writes: 0 }],
  ['Blob', { dataType: DataType.ByteString, value: Buffer.from([1, 2, 3]), writable: true, writes: 0 }],
  ['Pressure', { dataType: DataType.Double, value: 1.25, writable: false, writes: 0 }],
  ['Limited', { dataType: DataType.Int32, value: 10, writable: true, limit: 100, writes: 0 }],
])
for (let i = 0; i < items; i++) slots.set(`Item${i}`, { dataType: DataType.Double, value: 0, writable: true, writes: 0 })

const server = new OPCUAServer({
  port,
  hostname: '127.0.0.1',
  serverCertificateManager: new OPCUACertificateManager({ rootFolder: join(pki, 'server'), automaticallyAcceptUnknownCertificate: true }),
  userCertificateManager: new OPCUACertificateManager({ rootFolder: join(pki, 'user'), automaticallyAcceptUnknownCertificate: true }),
  securityModes: [MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt],
  securityPolicies: [SecurityPolicy.None, SecurityPolicy.Basic256Sha256, SecurityPolicy.Aes128_Sha256_RsaOaep],
  allowAnonymous: true,
  userManager: { isValidUser: (user: string, password: string) => user === 'operator' && password === 's3cret' },
  serverCapabilities: {
    maxSessions: 200,
    operationLimits: { maxMonitoredItemsPerCall: 1000, maxNodesPerRead: 2000 },
  },
})

await server.initialize()
// 0 in the constructor options means "the default": set the limit on the engine itself
if (noSubscriptions) (server.engine.serverCapabilities as { maxSubscriptionsPerSession: number }).maxSubscriptionsPerSession = 0
const addressSpace = server.engine.addressSpace
if (addressSpace === null) throw new Error('no address space')
const ns = addressSpace.getOwnNamespace()
const plant = ns.addFolder(addressSpace.rootFolder.objects, { browseName: 'Plant' })
const boiler = ns.addObject({ organizedBy: plant, browseName: 'Boiler' })
const itemsFolder = items > 0 ? ns.addFolder(addressSpace.rootFolder.objects, { browseName: 'Items' }) : undefined

for (const [name, slot] of slots) {
  const parent = name.startsWith('Item') ? { organizedBy: itemsFolder } : { componentOf: boiler }
  ns.addVariable({
    ...parent,
    browseName: name,
    nodeId: `s=${name}`,
    dataType: slot.dataType,
    minimumSamplingInterval: 50,
    accessLevel: slot.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
    userAccessLevel: slot.writable ? 'CurrentRead | CurrentWrite' : 'CurrentRead',
    value: {
      get: () => new Variant({ dataType: slot.dataType, value: slot.value }),
      set: (variant: Variant) => {
        slot.writes++
        if (slot.limit !== undefined && typeof variant.value === 'number' && variant.value > slot.limit) return StatusCodes.BadOutOfRange
        slot.value = variant.value
        return StatusCodes.Good
      },
    },
  })
}

await server.start()
process.stdout.write(`READY ${port}\n`)

let ticker: NodeJS.Timeout | undefined
createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, name = '', ...rest] = line.trim().split(' ')
  const slot = slots.get(name)
  if (command === 'set' && slot !== undefined) {
    const value: unknown = JSON.parse(rest.join(' '))
    slot.value = slot.dataType === DataType.ByteString ? Buffer.from(String(value), 'base64') : value
    process.stdout.write('OK\n')
  } else if (command === 'get' && slot !== undefined) {
    process.stdout.write(`VALUE ${JSON.stringify(Buffer.isBuffer(slot.value) ? slot.value.toString('base64') : slot.value)}\n`)
  } else if (command === 'writes' && slot !== undefined) {
    process.stdout.write(`VALUE ${slot.writes}\n`)
  } else if (command === 'tick') {
    clearInterval(ticker)
    const ms = Number(name)
    if (ms > 0) {
      ticker = setInterval(() => {
        for (let i = 0; i < items; i++) {
          const s = slots.get(`Item${i}`)
          if (s !== undefined) s.value = (s.value as number) + 1
        }
      }, ms)
    }
    process.stdout.write('OK\n')
  } else if (command === 'drop-subscriptions') {
    // the server forgets every subscription while sessions and connections stay up
    let dropped = 0
    for (const session of server.engine.getSessions()) {
      for (const subscription of session.publishEngine.subscriptions) {
        session.deleteSubscription(subscription.id)
        dropped++
      }
    }
    process.stdout.write(`VALUE ${dropped}\n`)
  } else {
    process.stdout.write(`ERROR ${line}\n`)
  }
})

const shutdown = (): void => {
  clearInterval(ticker)
  void server.shutdown(0).finally(() => process.exit(0))
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)
