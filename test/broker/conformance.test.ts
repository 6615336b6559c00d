/**
 * MQTT 3.1.1 conformance on raw bytes, against tern's embedded broker (the built `tern edge`
 * process) and a real Mosquitto 2.0: what a broker must do with ill-formed UTF-8 and U+0000 in
 * strings [MQTT-1.5.3-1/2], an unsupported protocol level [MQTT-3.1.2-2] and a password flag
 * without a username flag [MQTT-3.1.2-22]. Packets are written by hand: no client library sends
 * these.
 */
import assert from 'node:assert/strict'
import { connect as netConnect } from 'node:net'
import { brokerTargets, type RunningBroker } from '../support/brokers.js'
import { clientPool, controlPacket, mqttString, type ClientPool } from '../support/mqtt.js'

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff])
const str = mqttString
const packet = controlPacket

interface ConnectFields {
  level?: number
  clientId?: string | Buffer
  will?: { topic: string | Buffer; payload: string }
  username?: string | Buffer
  password?: string
  /** the flags byte as sent; by default derived from the fields (clean session set) */
  flags?: number
}

function connectPacket(f: ConnectFields = {}): Buffer {
  const flags =
    f.flags ?? (0x02 | (f.will === undefined ? 0 : 0x04) | (f.username === undefined ? 0 : 0x80) | (f.password === undefined ? 0 : 0x40))
  return packet(
    0x10,
    str('MQTT'),
    Buffer.from([f.level ?? 4, flags]),
    u16(30),
    str(f.clientId ?? ''),
    ...(f.will === undefined ? [] : [str(f.will.topic), str(f.will.payload)]),
    ...(f.username === undefined ? [] : [str(f.username)]),
    ...(f.password === undefined ? [] : [str(f.password)]),
  )
}

const publishPacket = (topic: string | Buffer, qos: 0 | 1 = 0): Buffer => packet(0x30 | (qos << 1), str(topic), ...(qos > 0 ? [u16(7)] : []), Buffer.from('x'))
const subscribePacket = (filter: string | Buffer): Buffer => packet(0x82, u16(1), str(filter), Buffer.from([0]))
const unsubscribePacket = (filter: string | Buffer): Buffer => packet(0xa2, u16(2), str(filter))

const CONNACK_OK = '20020000'
const CONNACK_UNACCEPTABLE_PROTOCOL = '20020001'

/** Ill-formed UTF-8 (RFC 3629), and U+0000, inside an otherwise ordinary topic. */
const BAD_STRINGS: Record<string, Buffer> = {
  'a lone continuation byte': Buffer.from([0x61, 0x2f, 0x80, 0x62]),
  'a truncated sequence (C3 then ASCII)': Buffer.from([0x61, 0x2f, 0xc3, 0x28]),
  'an overlong encoding of "/" (C0 AF)': Buffer.from([0x61, 0xc0, 0xaf, 0x62]),
  'a UTF-16 surrogate (ED A0 80)': Buffer.from([0x61, 0x2f, 0xed, 0xa0, 0x80]),
  'a code point above U+10FFFF (F4 90 80 80)': Buffer.from([0x61, 0x2f, 0xf4, 0x90, 0x80, 0x80]),
  'U+0000': Buffer.from([0x61, 0x2f, 0x00, 0x62]),
}

interface Exchange {
  /** every byte the broker sent, hex */
  received: () => string
  send(bytes: Buffer): void
  /** resolves true when the broker closed the connection within `ms`, false if it is still open */
  closedWithin(ms: number): Promise<boolean>
  /** resolves when the broker has sent at least `hex.length / 2` bytes */
  waitFor(bytes: number, ms?: number): Promise<string>
}

async function open(pool: ClientPool, port: number): Promise<Exchange> {
  const socket = netConnect(port, '127.0.0.1')
  pool.defer(() => socket.destroy())
  socket.on('error', () => {})
  let got = Buffer.alloc(0)
  let closed = false
  const wakers = new Set<() => void>()
  const wake = (): void => {
    for (const w of wakers) w()
  }
  socket.on('data', (chunk: Buffer) => {
    got = Buffer.concat([got, chunk])
    wake()
  })
  socket.on('close', () => {
    closed = true
    wake()
  })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve)
    socket.once('error', reject)
  })
  const until = (done: () => boolean, ms: number): Promise<boolean> =>
    new Promise((resolve) => {
      const check = (): void => {
        if (!done()) return
        clearTimeout(timer)
        wakers.delete(check)
        resolve(true)
      }
      const timer = setTimeout(() => {
        wakers.delete(check)
        resolve(false)
      }, ms)
      wakers.add(check)
      check()
    })
  return {
    received: () => got.toString('hex'),
    send: (bytes) => socket.write(bytes),
    closedWithin: (ms) => until(() => closed, ms),
    waitFor: async (bytes, ms = 5000) => {
      if (!(await until(() => got.length >= bytes || closed, ms)) || got.length < bytes) throw new Error(`expected ${bytes} bytes, got ${got.toString('hex')}${closed ? ' and the connection closed' : ''}`)
      return got.toString('hex')
    },
  }
}

for (const target of brokerTargets) {
  describe(`MQTT 3.1.1 conformance on raw bytes: ${target.name}`, function () {
    this.timeout(30_000)
    const pool = clientPool()
    let broker: RunningBroker<'plain'>
    before(async () => {
      broker = await target.start({ allowAnonymous: true, listeners: { plain: { protocol: 'mqtt' } } })
    })
    after(() => broker?.stop())
    let run = 0

    /** A connection with CONNACK 0 received. */
    const connected = async (): Promise<Exchange> => {
      const x = await open(pool, broker.ports.plain)
      x.send(connectPacket({ clientId: `raw-${target.name}-${++run}` }))
      assert.equal(await x.waitFor(4), CONNACK_OK)
      return x
    }
    const assertClosedWithoutConnack = async (x: Exchange): Promise<void> => {
      assert.equal(await x.closedWithin(5000), true, 'the connection is closed')
      assert.equal(x.received(), '', 'no CONNACK')
    }

    describe('[MQTT-1.5.3-1] [MQTT-1.5.3-2] ill-formed UTF-8 and U+0000 close the connection', () => {
      for (const [what, bad] of Object.entries(BAD_STRINGS)) {
        it(`in a PUBLISH topic: ${what}`, async () => {
          const x = await connected()
          x.send(publishPacket(bad, 1))
          assert.equal(await x.closedWithin(5000), true)
          assert.equal(x.received(), CONNACK_OK, 'no PUBACK')
        })
        it(`in a SUBSCRIBE filter: ${what}`, async () => {
          const x = await connected()
          x.send(subscribePacket(bad))
          assert.equal(await x.closedWithin(5000), true)
          assert.equal(x.received(), CONNACK_OK, 'no SUBACK')
        })
      }
      it('in an UNSUBSCRIBE filter', async () => {
        const x = await connected()
        x.send(unsubscribePacket(BAD_STRINGS['U+0000'] as Buffer))
        assert.equal(await x.closedWithin(5000), true)
        assert.equal(x.received(), CONNACK_OK, 'no UNSUBACK')
      })
      it('in the client identifier, the will topic or the username of a CONNECT: no CONNACK', async () => {
        for (const fields of [
          { clientId: BAD_STRINGS['a truncated sequence (C3 then ASCII)'] },
          { clientId: BAD_STRINGS['U+0000'] },
          { clientId: 'will', will: { topic: BAD_STRINGS['U+0000'] as Buffer, payload: 'gone' } },
          { clientId: 'user', username: BAD_STRINGS['a lone continuation byte'] },
        ]) {
          const x = await open(pool, broker.ports.plain)
          x.send(connectPacket(fields))
          await assertClosedWithoutConnack(x)
        }
      })
      it('well-formed multi-byte UTF-8 (and U+FFFD itself) is an ordinary topic', async () => {
        const x = await connected()
        x.send(publishPacket('ä/€/😀/\uFFFD', 1))
        assert.equal(await x.waitFor(8), CONNACK_OK + '40020007', 'PUBACK')
        assert.equal(await x.closedWithin(300), false)
      })
    })

    describe('[MQTT-3.1.2-2] an unsupported protocol level gets CONNACK 1, then the connection is closed', () => {
      for (const level of [0, 2, 6, 7, 255]) {
        it(`protocol level ${level}`, async () => {
          const x = await open(pool, broker.ports.plain)
          x.send(connectPacket({ level, clientId: `level-${level}` }))
          assert.equal(await x.closedWithin(5000), true)
          assert.equal(x.received(), CONNACK_UNACCEPTABLE_PROTOCOL)
        })
      }
      if (target.name === 'tern') {
        // Mosquitto 2.0 speaks MQTT 5; tern's broker speaks 3.1.1 and 3.1 only.
        it('protocol level 5 (MQTT 5)', async () => {
          const x = await open(pool, broker.ports.plain)
          x.send(packet(0x10, str('MQTT'), Buffer.from([5, 0x02]), u16(30), Buffer.from([0]), str('v5')))
          assert.equal(await x.closedWithin(5000), true)
          assert.equal(x.received(), CONNACK_UNACCEPTABLE_PROTOCOL)
        })
      }
    })

    it('[MQTT-4.3.3-2] a QoS 2 PUBLISH sent again before its PUBREL (clean session) is delivered once', async () => {
      const topic = `qos2-once-${target.name}`
      const subscriber = await pool.connect(broker.url('plain'))
      await subscriber.client.subscribeAsync(topic, { qos: 2 })
      const x = await connected()
      const publish = (dup: boolean): Buffer => packet(0x34 | (dup ? 0x08 : 0), str(topic), u16(9), Buffer.from('once'))
      x.send(publish(false))
      assert.equal(await x.waitFor(8), CONNACK_OK + '50020009', 'PUBREC')
      x.send(publish(true))
      assert.equal(await x.waitFor(12), CONNACK_OK + '50020009' + '50020009', 'PUBREC again')
      x.send(packet(0x62, u16(9))) // PUBREL
      assert.equal(await x.waitFor(16), CONNACK_OK + '50020009' + '50020009' + '70020009', 'PUBCOMP')
      await subscriber.inbox.waitFor((m) => m.topic === topic, 'the message')
      await new Promise((resolve) => setTimeout(resolve, 300))
      assert.deepEqual(subscriber.inbox.topics(), [topic], 'delivered once')
    })

    it('[MQTT-3.1.2-22] the password flag without the username flag: the connection is closed without a CONNACK', async () => {
      const x = await open(pool, broker.ports.plain)
      x.send(connectPacket({ clientId: 'password-only', password: 'secret' }))
      await assertClosedWithoutConnack(x)
    })
  })
}
