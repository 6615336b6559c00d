/**
 * A TCP port of this network namespace made reachable inside another one (a private containerd's,
 * where `tern edge` then runs beside its runtime as on a real node): socat listens on
 * 127.0.0.1:`port` inside the namespace (a private one: any port is free there) and relays each
 * connection over a unix socket (the filesystem is shared) to 127.0.0.1:`port` here.
 */
import { access, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { startChild, type Child } from './resources.js'

export const SOCAT = '/usr/bin/socat'

export interface Relay {
  stop(): Promise<void>
}

export async function relayIntoNetns(pid: number, dir: string, port: number): Promise<Relay> {
  const socket = join(dir, `relay-${port}.sock`)
  const children: Child[] = []
  const stop = async (): Promise<void> => {
    for (const child of children.reverse()) await child.stop(5_000)
  }
  try {
    children.push(startChild(SOCAT, [`UNIX-LISTEN:${socket},fork`, `TCP:127.0.0.1:${port}`]))
    await until(() => access(socket).then(() => true, () => false), `relay socket ${socket}`)
    const inside = startChild('nsenter', [`--net=/proc/${pid}/ns/net`, '--', SOCAT, `TCP-LISTEN:${port},bind=127.0.0.1,fork,reuseaddr`, `UNIX-CONNECT:${socket}`])
    children.push(inside)
    // /proc/<pid>/net/tcp lists the sockets of that process's network namespace; 0A is LISTEN
    const hex = port.toString(16).toUpperCase().padStart(4, '0')
    await until(async () => (await readFile(`/proc/${inside.pid}/net/tcp`, 'utf8').catch(() => '')).split('\n').some((l) => l.includes(`:${hex} `) && / 0A /.test(l)), `relay listening on ${port} in the namespace`)
  } catch (err) {
    await stop()
    throw err
  }
  return { stop }
}

async function until(probe: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await probe()) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`timed out waiting for ${what}`)
}
