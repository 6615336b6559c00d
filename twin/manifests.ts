/**
 * Local Device/DeviceModel manifests (the embedded default: no cloud). Pure functions: parse the
 * YAML documents of one file; device-set.ts resolves the node's devices with their models. Reading
 * and watching the directory lives in manifest-dir.ts.
 */
import { Composer, Parser, parseAllDocuments, type Document } from 'yaml'
import { Device as deviceCheck } from '../schemas/generated/validators/Device.js'
import { DeviceModel as deviceModelCheck } from '../schemas/generated/validators/DeviceModel.js'
import { validator } from '../schemas/validate.js'
import type { Manifest, ManifestProblem } from './device-set.js'

const validateDevice = validator(deviceCheck)
const validateModel = validator(deviceModelCheck)

/** Parses every YAML document of one file; documents of other kinds are ignored, bad ones reported. */
export function parseManifests(file: string, text: string): { manifests: Manifest[]; problems: ManifestProblem[] } {
  const manifests: Manifest[] = []
  const problems: ManifestProblem[] = []
  let index = 0
  for (const yamlDoc of yamlDocuments(text)) {
    const source = `${file}#${index++}`
    if (yamlDoc.errors.length > 0) {
      problems.push(...yamlDoc.errors.map((e) => ({ source, path: '/', message: `not valid YAML: ${e.message}` })))
      continue
    }
    // A copy: the yaml package's scalars are slices of the file's text, and the parsed manifests
    // are kept while the node runs; each slice would keep the whole text (600 KB for 1,000 devices).
    const doc: unknown = structuredClone(yamlDoc.toJS())
    if (doc === null || doc === undefined) continue
    const kind = typeof doc === 'object' ? (doc as { kind?: unknown }).kind : undefined
    if (kind === 'Device') {
      const result = validateDevice(doc)
      if (result.ok) manifests.push({ kind, doc: result.value })
      else problems.push(...result.problems.map((p) => ({ ...p, source })))
    } else if (kind === 'DeviceModel') {
      const result = validateModel(doc)
      if (result.ok) manifests.push({ kind, doc: result.value })
      else problems.push(...result.problems.map((p) => ({ ...p, source })))
    }
  }
  return { manifests, problems }
}

/**
 * The YAML documents of a file one at a time, as `parseAllDocuments` would give them: each syntax
 * tree is garbage once converted, where an array of them all (1,000 devices: ~20 MiB) outlived
 * young-generation collections and left the old generation grown. A broken document is taken
 * from `parseAllDocuments`, whose messages carry the line, column and an excerpt.
 */
function* yamlDocuments(text: string): Generator<Document.Parsed> {
  let index = 0
  for (const doc of new Composer().compose(new Parser().parse(text))) {
    yield doc.errors.length === 0 ? doc : (parseAllDocuments(text)[index] ?? doc)
    index++
  }
}
