/**
 * Writes the JSON Schemas declared in schemas/*.ts to schemas/generated/. With `--check`, writes
 * nothing and fails when a generated file is missing or stale (part of `npm run check`).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import type { TSchema } from '@sinclair/typebox'
import { BluetoothProtocolConfig, BluetoothVisitor } from '../schemas/bluetooth.js'
import { CloudConfig } from '../schemas/cloud-config.js'
import { EdgeConfig } from '../schemas/config.js'
import { Device, DeviceModel, EdgeDevice } from '../schemas/device.js'
import { ModbusProtocolConfig, ModbusVisitor } from '../schemas/modbus.js'
import { OpcuaProtocolConfig, OpcuaVisitor } from '../schemas/opcua.js'
import * as twin from '../schemas/twin.js'
import { crdManifests } from './crds.js'

const outputs: Record<string, TSchema> = {
  'edge-config.schema.json': EdgeConfig,
  'cloud-config.schema.json': CloudConfig,
  'device.schema.json': Device,
  'devicemodel.schema.json': DeviceModel,
  'edge-device.schema.json': EdgeDevice,
  'bluetooth-protocol.schema.json': BluetoothProtocolConfig,
  'bluetooth-visitor.schema.json': BluetoothVisitor,
  'modbus-protocol.schema.json': ModbusProtocolConfig,
  'modbus-visitor.schema.json': ModbusVisitor,
  'opcua-protocol.schema.json': OpcuaProtocolConfig,
  'opcua-visitor.schema.json': OpcuaVisitor,
  'twin-update.schema.json': twin.DeviceTwinUpdate,
  'twin-update-result.schema.json': twin.DeviceTwinResult,
  'twin-update-document.schema.json': twin.DeviceTwinDocument,
  'twin-update-delta.schema.json': twin.DeviceTwinDelta,
  'twin-get.schema.json': twin.GetRequest,
  'error-result.schema.json': twin.ErrorResult,
  'state-update.schema.json': twin.DeviceStateUpdate,
  'state-update-result.schema.json': twin.DeviceStateResult,
  'membership-get-result.schema.json': twin.MembershipGetResult,
  'membership-updated.schema.json': twin.MembershipUpdated,
}

/** Editors should not demand keys that have defaults: drop them from `required` in the published schema. */
function publishable(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(publishable)
  if (schema === null || typeof schema !== 'object') return schema
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(schema)) out[key] = publishable(value)
  const props = out.properties as Record<string, { default?: unknown }> | undefined
  if (Array.isArray(out.required) && props !== undefined) {
    const required = (out.required as string[]).filter((k) => props[k]?.default === undefined)
    if (required.length > 0) out.required = required
    else delete out.required
  }
  return out
}

const check = process.argv.includes('--check')
let stale = 0
for (const [name, schema] of Object.entries(outputs)) {
  const path = resolve(import.meta.dirname, '../schemas/generated', name)
  const text = `${JSON.stringify({ $schema: 'http://json-schema.org/draft-07/schema#', ...(publishable(schema) as object) }, null, 2)}\n`
  if (check) {
    const current = await readFile(path, 'utf8').catch(() => '')
    if (current !== text) {
      console.error(`stale generated file: schemas/generated/${name} (run npm run gen)`)
      stale++
    }
  } else {
    await writeFile(path, text)
  }
}
// CRDs for the cloud side (deploy/crds/), generated from the same schemas.
for (const [file, text] of Object.entries(crdManifests())) {
  const path = resolve(import.meta.dirname, '..', file)
  if (check) {
    if ((await readFile(path, 'utf8').catch(() => '')) !== text) {
      console.error(`stale generated file: ${file} (run npm run gen)`)
      stale++
    }
  } else {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, text)
  }
}
process.exit(stale === 0 ? 0 : 1)
