/**
 * What `tern edge` checks before it opens anything: the files and folders its configuration names
 * and the protocols it enables. Every problem is collected, so one run reports all of them (with
 * the schema's, when the file does not validate) instead of one per attempt, and nothing listens
 * before the setup is known to be usable.
 */
import { constants } from 'node:fs'
import { access, mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { userInfo } from 'node:os'
import { resolve } from 'node:path'
import type { EdgeConfig } from '../schemas/config.js'
import { TernError } from '../schemas/tern-error.js'
import { protocolNames } from '../mappers/protocols.js'
import { edgeConfigResult, readEdgeDocument } from './config.js'
import { dependencyProblem } from './optional-deps.js'
import { SetupProblems } from './problems.js'

/**
 * The edge config of `path` (with `--data-dir` applied), checked by its schema and by the setup
 * checks below; throws every problem found, a single TernError or SetupProblems.
 */
export async function checkedEdgeConfig(path: string | undefined, dataDir: string | undefined): Promise<EdgeConfig> {
  let doc = await readEdgeDocument(path)
  if (dataDir !== undefined) doc = { ...record(doc), dataDir }
  const schema = edgeConfigResult(doc, path ?? 'the embedded defaults')
  const problems = await edgeSetupProblems(schema.ok ? schema.value : record(doc))
  if (!schema.ok) problems.unshift(schema.error)
  if (problems.length > 1) throw new SetupProblems(problems)
  if (problems[0] !== undefined) throw problems[0]
  if (!schema.ok) throw schema.error // unreachable: a failed schema is a problem
  return schema.value
}

/** The part of an edge configuration the checks read; the document may not have passed the schema. */
interface EdgeSetup {
  dataDir?: unknown
  mqtt?: { mode?: unknown; listeners?: unknown; external?: unknown }
  twin?: { manifestsDir?: unknown }
  mappers?: { enabled?: unknown }
  cloud?: unknown
  edged?: unknown
}

const text = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined)
const record = (v: unknown): Record<string, unknown> => (typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : {})

/** Every problem of `config`'s files, folders and protocols; empty when `tern edge` can start. */
export async function edgeSetupProblems(config: EdgeSetup): Promise<TernError[]> {
  const problems = await Promise.all([dataDirProblem(text(config.dataDir) ?? 'tern-data'), manifestsProblem(config), ...tlsProblems(config)])
  return [...problems.filter((p) => p !== undefined), ...protocolProblems(config)]
}

async function dataDirProblem(dir: string): Promise<TernError | undefined> {
  const path = resolve(dir)
  const { username, uid } = userInfo()
  try {
    await mkdir(path, { recursive: true })
    await access(path, constants.W_OK | constants.X_OK)
    const db = resolve(path, 'db')
    if (await exists(db)) await access(db, constants.W_OK | constants.X_OK)
    return undefined
  } catch (cause) {
    return new TernError(
      'DATA_DIR_UNWRITABLE',
      `dataDir ${path} is not writable by user ${username} (uid ${uid}): ${(cause as Error).message}. ` +
        `Give that user the directory (chown) or choose another with dataDir or --data-dir`,
      { cause },
    )
  }
}

async function manifestsProblem(config: EdgeSetup): Promise<TernError | undefined> {
  const dir = text(config.twin?.manifestsDir)
  if (dir === undefined) return undefined
  const path = resolve(dir)
  try {
    await readdir(path)
    return undefined
  } catch (cause) {
    return new TernError('MANIFESTS_DIR_UNREADABLE', `twin.manifestsDir ${path} cannot be read: ${(cause as Error).message}`, { cause })
  }
}

function tlsProblems(config: EdgeSetup): Array<Promise<TernError | undefined>> {
  const listeners = Array.isArray(config.mqtt?.listeners) ? (config.mqtt.listeners as unknown[]) : []
  const checks: Array<Promise<TernError | undefined>> = []
  listeners.forEach((listener, i) => {
    const tls = record(record(listener).tls)
    for (const key of ['cert', 'key', 'ca']) {
      const file = text(tls[key])
      if (file !== undefined) checks.push(fileProblem(file, `mqtt.listeners[${i}].tls.${key}`))
    }
  })
  const external = record(config.mqtt?.external)
  for (const key of ['ca', 'cert', 'key']) {
    const file = text(external[key])
    if (file !== undefined) checks.push(fileProblem(file, `mqtt.external.${key}`))
  }
  return checks
}

async function fileProblem(file: string, setting: string): Promise<TernError | undefined> {
  try {
    if (!(await stat(file)).isFile()) throw new Error('not a file')
    await readFile(file)
    return undefined
  } catch (cause) {
    return new TernError('BROKER_TLS_FILE_UNREADABLE', `${setting}: cannot read ${file}: ${(cause as Error).message}`, { cause })
  }
}

function protocolProblems(config: EdgeSetup): TernError[] {
  const enabled = Array.isArray(config.mappers?.enabled) ? config.mappers.enabled.filter((n): n is string => typeof n === 'string') : []
  const known = protocolNames()
  const problems = enabled
    .filter((name) => !known.includes(name))
    .map((name) => new TernError('MAPPER_PROTOCOL_UNKNOWN', `mappers.enabled names ${name}; known protocols: ${known.join(', ')}`))
  const missing = dependencyProblem(`mappers.enabled: [${enabled.join(', ')}]`, enabled.filter((name) => known.includes(name)))
  if (missing !== undefined) problems.push(missing)
  const edgedMissing = config.edged === undefined ? undefined : dependencyProblem('the edged: section (containers through the CRI)', ['edged'])
  if (edgedMissing !== undefined) problems.push(edgedMissing)
  if (config.cloud !== undefined && text(config.twin?.manifestsDir) !== undefined) {
    problems.push(new TernError('CONFIG_INVALID', 'twin.manifestsDir and cloud are both set: a node takes its devices from one of them'))
  }
  return problems
}

/** Is there anything at `path`? (A missing file is an answer here, not an error.) */
export async function exists(path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch {
    return false
  }
}
