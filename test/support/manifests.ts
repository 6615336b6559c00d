/** Device manifests for tests that run `tern edge` on a manifest directory. */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { scratchDir } from './resources.js'

/** A DeviceModel `counter-model` with one INT property `counter`, and one Device of it per name (namespace `default`). */
export function counterManifests(names: readonly string[]): string {
  const model = 'apiVersion: devices.kubeedge.io/v1beta1\nkind: DeviceModel\nmetadata: { name: counter-model }\nspec:\n  properties:\n    - { name: counter, type: INT, accessMode: ReadWrite }\n'
  const device = (name: string): string =>
    `apiVersion: devices.kubeedge.io/v1beta1\nkind: Device\nmetadata: { name: ${name} }\nspec:\n  deviceModelRef: { name: counter-model }\n  properties: [ { name: counter } ]\n`
  return [model, ...names.map(device)].join('---\n')
}

/** `c-0` … `c-<count - 1>` */
export function counterNames(count: number): string[] {
  return Array.from({ length: count }, (_, i) => `c-${i}`)
}

/** A scratch directory (removed through `undo`) whose `devices/` holds `manifests` in one file. */
export async function scratchWithDevices(manifests: string, undo: Array<() => Promise<void>>): Promise<{ dir: string; devices: string }> {
  const scratch = await scratchDir()
  undo.push(() => scratch.remove())
  const devices = join(scratch.path, 'devices')
  await mkdir(devices)
  await writeFile(join(devices, 'devices.yaml'), manifests)
  return { dir: scratch.path, devices }
}
