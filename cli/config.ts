/** Loads and validates the edge node's YAML configuration; every problem is reported with its path. */
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { EdgeConfig } from '../schemas/config.js'
import { TernError } from '../schemas/errors.js'
import { compile, formatProblems } from '../schemas/validate.js'

const validateEdgeConfig = compile(EdgeConfig)

export function parseEdgeConfig(doc: unknown, source: string): EdgeConfig {
  const result = validateEdgeConfig(doc ?? {})
  if (!result.ok) {
    throw new TernError('CONFIG_INVALID', `${source} is not a valid edge configuration:\n${formatProblems(result.problems)}`, {
      details: result.problems.map((p) => `${p.path}: ${p.message}`),
    })
  }
  return result.value
}

export async function loadEdgeConfig(path: string | undefined): Promise<EdgeConfig> {
  if (path === undefined) return parseEdgeConfig({}, 'the embedded defaults')
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new TernError('CONFIG_UNREADABLE', `cannot read ${path}: ${(cause as Error).message}`, { cause })
  }
  let doc: unknown
  try {
    doc = parse(text, { prettyErrors: true })
  } catch (cause) {
    throw new TernError('CONFIG_UNREADABLE', `${path} is not valid YAML: ${(cause as Error).message}`, { cause })
  }
  return parseEdgeConfig(doc, path)
}
