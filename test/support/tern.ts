/** Runs the built `tern` command (dist/) as a real process, as a user would. */
import { writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { stringify } from 'yaml'
import { startChild, type Child } from './resources.js'

export const TERN_BIN = resolve(import.meta.dirname, '../../dist/cli/tern.js')

export interface TernEdgeProcess extends Child {
  /** Listeners as the node reported them when ready. */
  listeners: Array<{ protocol: string; host: string; port: number }>
  /** the metrics and health listener's port (0 with `http: false`) */
  httpPort: number
}

/** How to start a process: in this namespace by default, or e.g. inside a network namespace. */
export type Spawner = (command: string, args: readonly string[]) => Child

const here: Spawner = (command, args) => startChild(command, args)

/** Writes `config` as YAML into `dir` and starts `tern edge` on it; resolves when the node is ready. */
export async function startTernEdge(dir: string, config: Record<string, unknown>, extraArgs: string[] = [], spawn: Spawner = here): Promise<TernEdgeProcess> {
  const configPath = join(dir, 'tern.yaml')
  // the metrics listener on a port of the OS's choosing, so nodes of parallel tests never share 9464
  await writeFile(configPath, stringify({ dataDir: join(dir, 'data'), http: { listen: '127.0.0.1:0' }, ...config }))
  const child = spawn(process.execPath, [TERN_BIN, 'edge', '--config', configPath, ...extraArgs])
  const line = await child.waitForLine((l) => l.includes('"msg":"edge node ready"'))
  const ready = JSON.parse(line) as { listeners: TernEdgeProcess['listeners']; http?: { port: number } }
  return Object.assign(child, { listeners: ready.listeners, httpPort: ready.http?.port ?? 0 })
}

export interface TernCloudProcess extends Child {
  /** CloudHub's bound port, as the process reported it when ready. */
  hubPort: number
  /** the metrics and health listener's port (0 with `http: false`) */
  httpPort: number
  /** the kubelet stream endpoint's port, when the config has `streams:` */
  streamsPort?: number
}

/** Writes `config` as YAML into `dir` and starts `tern cloud` on it; resolves when CloudHub listens and the informers synced. */
export async function startTernCloud(dir: string, config: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<TernCloudProcess> {
  const configPath = join(dir, 'cloud.yaml')
  await writeFile(configPath, stringify({ http: { listen: '127.0.0.1:0' }, ...config }))
  const child = startChild(process.execPath, [TERN_BIN, 'cloud', '--config', configPath], { env: { ...process.env, ...env } })
  // bounded generously: informers' first lists and the CA read take seconds at a load average of 15+
  const line = await child.waitForLine((l) => l.includes('"msg":"cloud ready"'), 60_000)
  const ready = JSON.parse(line) as { hub: { port: number }; http?: { port: number }; streams?: { port: number } }
  return Object.assign(child, { hubPort: ready.hub.port, httpPort: ready.http?.port ?? 0, ...(ready.streams === undefined ? {} : { streamsPort: ready.streams.port }) })
}

/** Runs `tern ...args` to completion. */
export async function runTern(args: string[], input?: string, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; output: string }> {
  const child = startChild(process.execPath, [TERN_BIN, ...args], { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'], env: { ...process.env, ...env } })
  if (input !== undefined) child.process.stdin?.end(input)
  const { code } = await child.exited()
  return { code, output: child.output() }
}
