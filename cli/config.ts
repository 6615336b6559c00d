/** Loads and validates the YAML configuration files (edge node, cloud side); every problem is reported with its path. */
import { readFile } from 'node:fs/promises'
import { canonicalIP, nodeIPProblem } from '../cloud-sync/edge/node-addresses.js'
import type { CloudConfig } from '../schemas/cloud-config.js'
import type { EdgeConfig } from '../schemas/config.js'
import { TernError, type ErrorCode } from '../schemas/tern-error.js'
import { EdgeConfig as edgeConfigCheck } from '../schemas/generated/validators/EdgeConfig.js'
import { validator, formatProblems, type Problem, type Validator } from '../schemas/validate.js'

const validateEdgeConfig = validator(edgeConfigCheck)

export function parseEdgeConfig(doc: unknown, source: string): EdgeConfig {
  const config = checked(validateEdgeConfig, doc, source, 'edge')
  const problems = nodeAddressProblems(config)
  if (problems.length > 0) throw invalid(source, 'edge', problems)
  return config
}

/**
 * The node's own address, given as edged.nodeIP (the kubelet's --node-ip: pods' hostIP and the Node's
 * InternalIP) or node.status.internalIP: an address a node can have, and one address when both are set.
 */
function nodeAddressProblems(config: EdgeConfig): Problem[] {
  const given = [
    { path: '/edged/nodeIP', address: config.edged?.nodeIP },
    { path: '/node/status/internalIP', address: config.node.status.internalIP },
  ].flatMap(({ path, address }) => (address === undefined ? [] : [{ path, address }]))
  const problems = given.flatMap(({ path, address }) => {
    const message = nodeIPProblem(address)
    return message === undefined ? [] : [{ path, message: `${message}, not an address of a node` }]
  })
  const [nodeIP, internalIP] = given
  if (problems.length === 0 && nodeIP !== undefined && internalIP !== undefined && canonicalIP(nodeIP.address) !== canonicalIP(internalIP.address)) {
    problems.push({ path: internalIP.path, message: `${internalIP.address} differs from edged.nodeIP ${nodeIP.address}: pods' hostIP is the Node's InternalIP; set one of them` })
  }
  return problems
}

export async function loadEdgeConfig(path: string | undefined): Promise<EdgeConfig> {
  return parseEdgeConfig(await readEdgeDocument(path), path ?? 'the embedded defaults')
}

/** The edge config file as parsed YAML, not yet validated (`{}` without a file). */
export async function readEdgeDocument(path: string | undefined): Promise<unknown> {
  return path === undefined ? {} : readYaml(path)
}

/** The validated edge config, or the CONFIG_INVALID error listing every schema problem. */
export function edgeConfigResult(doc: unknown, source: string): { ok: true; value: EdgeConfig } | { ok: false; error: TernError } {
  try {
    return { ok: true, value: parseEdgeConfig(doc, source) }
  } catch (error) {
    if (error instanceof TernError) return { ok: false, error }
    throw error
  }
}

export async function loadCloudConfig(path: string | undefined): Promise<CloudConfig> {
  // loaded here, not with this module: `tern edge` reads its config through this module too
  const { CloudConfig: cloudConfigCheck } = await import('../schemas/generated/validators/CloudConfig.js')
  return checked(validator(cloudConfigCheck), path === undefined ? {} : await readYaml(path), path ?? 'the embedded defaults', 'cloud')
}

function checked<T>(validate: Validator<T>, doc: unknown, source: string, what: string): T {
  const result = validate(doc ?? {})
  if (!result.ok) throw invalid(source, what, result.problems)
  return result.value
}

function invalid(source: string, what: string, problems: readonly Problem[]): TernError {
  return new TernError('CONFIG_INVALID', `${source} is not a valid ${what} configuration:\n${formatProblems(problems)}`, {
    details: problems.map((p) => `${p.path}: ${p.message}`),
  })
}

async function readYaml(path: string): Promise<unknown> {
  const text = (await readNamedFile(path, 'the configuration file', 'CONFIG_UNREADABLE')).toString('utf8')
  // loaded here, not with this module: a node started on the embedded defaults reads no YAML.
  // yaml is CommonJS for Node: bundled, a dynamic import of it has only its default export
  const { parse } = (await import('yaml')).default
  try {
    return parse(text, { prettyErrors: true })
  } catch (cause) {
    throw new TernError('CONFIG_UNREADABLE', `${path} is not valid YAML: ${(cause as Error).message}`, { cause })
  }
}

/** A file a setting names (a CA, a key, a secret); `code` and `what` name the setting when it cannot be read. */
export async function readNamedFile(path: string, what: string, code: ErrorCode): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (cause) {
    throw new TernError(code, `cannot read ${what} ${path}: ${(cause as Error).message}`, { cause })
  }
}

/** The first line of a file a setting names (passwords and secrets are kept out of the config). */
export async function readFirstLine(path: string, what: string, code: ErrorCode): Promise<string> {
  return (await readNamedFile(path, what, code)).toString('utf8').split(/\r?\n/)[0] ?? ''
}

/** The first line of a secret file, or `fallbackEnv`'s value; CLOUD_CONFIG_INVALID when neither gives one. */
export async function readSecret(file: string | undefined, fallbackEnv: string): Promise<string> {
  const secret = file === undefined ? process.env[fallbackEnv] : await readFirstLine(file, 'the secret file', 'CLOUD_CONFIG_INVALID')
  if (secret === undefined || secret.trim() === '') {
    throw new TernError('CLOUD_CONFIG_INVALID', file === undefined ? `no shared secret: set secretFile or ${fallbackEnv}` : `the secret file ${file} is empty`)
  }
  return secret.trim()
}
