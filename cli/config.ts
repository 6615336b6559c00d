/** Loads and validates the YAML configuration files (edge node, cloud side); every problem is reported with its path. */
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { CloudConfig } from '../schemas/cloud-config.js'
import { EdgeConfig } from '../schemas/config.js'
import { TernError } from '../schemas/errors.js'
import { compile, formatProblems, type Validator } from '../schemas/validate.js'

const validateEdgeConfig = compile(EdgeConfig)
const validateCloudConfig = compile(CloudConfig)

export function parseEdgeConfig(doc: unknown, source: string): EdgeConfig {
  return checked(validateEdgeConfig, doc, source, 'edge')
}

export async function loadEdgeConfig(path: string | undefined): Promise<EdgeConfig> {
  return parseEdgeConfig(path === undefined ? {} : await readYaml(path), path ?? 'the embedded defaults')
}

export async function loadCloudConfig(path: string | undefined): Promise<CloudConfig> {
  return checked(validateCloudConfig, path === undefined ? {} : await readYaml(path), path ?? 'the embedded defaults', 'cloud')
}

function checked<T>(validate: Validator<T>, doc: unknown, source: string, what: string): T {
  const result = validate(doc ?? {})
  if (!result.ok) {
    throw new TernError('CONFIG_INVALID', `${source} is not a valid ${what} configuration:\n${formatProblems(result.problems)}`, {
      details: result.problems.map((p) => `${p.path}: ${p.message}`),
    })
  }
  return result.value
}

async function readYaml(path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new TernError('CONFIG_UNREADABLE', `cannot read ${path}: ${(cause as Error).message}`, { cause })
  }
  try {
    return parse(text, { prettyErrors: true })
  } catch (cause) {
    throw new TernError('CONFIG_UNREADABLE', `${path} is not valid YAML: ${(cause as Error).message}`, { cause })
  }
}

/** The first line of a secret file, or `fallbackEnv`'s value; CLOUD_CONFIG_INVALID when neither gives one. */
export async function readSecret(file: string | undefined, fallbackEnv: string): Promise<string> {
  let secret: string | undefined
  if (file !== undefined) {
    try {
      secret = (await readFile(file, 'utf8')).split(/\r?\n/)[0]
    } catch (cause) {
      throw new TernError('CLOUD_CONFIG_INVALID', `cannot read the secret file ${file}: ${(cause as Error).message}`, { cause })
    }
  } else secret = process.env[fallbackEnv]
  if (secret === undefined || secret.trim() === '') {
    throw new TernError('CLOUD_CONFIG_INVALID', file === undefined ? `no shared secret: set secretFile or ${fallbackEnv}` : `the secret file ${file} is empty`)
  }
  return secret.trim()
}
