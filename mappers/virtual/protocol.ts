/**
 * `virtual`: devices that exist only in the mapper's memory. Each property is a register holding its
 * twin string, starting at its visitor's `configData.initial` (or the type's zero); writes store,
 * reads return what was stored. For demos, and for running `tern mapper` with no hardware.
 *
 * ```yaml
 * protocol: { protocolName: virtual }
 * properties:
 *   - { name: speed, visitors: { protocolName: virtual, configData: { initial: "0" } } }
 * ```
 */
import type { EdgeDevice, EdgeProperty, PropertyType } from '../../schemas/device.js'
import type { Problem } from '../../schemas/validate.js'
import { ok, type DeviceDriver, type Outcome, type Protocol } from '../driver.js'

export const VIRTUAL = 'virtual'

function zero(type: PropertyType): string {
  switch (type) {
    case 'INT':
    case 'FLOAT':
    case 'DOUBLE':
      return '0'
    case 'BOOLEAN':
      return 'false'
    case 'STRING':
    case 'BYTES':
    case 'STREAM':
      return ''
  }
}

export function virtualProtocol(): Protocol {
  /** device key → property → value; shared by every driver of a device so values survive reconnects */
  const devices = new Map<string, Map<string, string>>()
  const registersOf = (device: EdgeDevice): Map<string, string> => {
    const key = `${device.namespace}/${device.name}`
    let registers = devices.get(key)
    if (registers === undefined) {
      registers = new Map(device.properties.map((p) => [p.name, initialOf(p) ?? zero(p.type)]))
      devices.set(key, registers)
    }
    return registers
  }
  return {
    name: VIRTUAL,
    validate: (device) => {
      const problems: Problem[] = []
      device.properties.forEach((p, i) => {
        const initial = p.visitors.configData.initial
        if (initial !== undefined && typeof initial !== 'string') problems.push({ path: `/spec/properties/${i}/visitors/configData/initial`, message: 'must be a string' })
      })
      return problems
    },
    createDriver: (device): DeviceDriver => {
      const registers = registersOf(device)
      return {
        connect: () => Promise.resolve(ok(undefined)),
        read: (properties: readonly EdgeProperty[]) =>
          Promise.resolve(new Map(properties.map((p): [string, Outcome<string>] => [p.name, ok(registers.get(p.name) ?? zero(p.type))]))),
        write: (property, value) => {
          registers.set(property.name, value)
          return Promise.resolve(ok(undefined))
        },
        health: () => Promise.resolve(ok(undefined)),
        close: () => Promise.resolve(),
      }
    },
  }
}

function initialOf(property: EdgeProperty): string | undefined {
  const initial = property.visitors.configData.initial
  return typeof initial === 'string' ? initial : undefined
}
