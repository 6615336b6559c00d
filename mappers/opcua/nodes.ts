/**
 * Finding nodes: browse paths resolved one step at a time from the Objects folder (a step without a
 * namespace index matches the browse name in any namespace, as people write paths from a UA
 * browser's tree), and the built-in data type behind a node's DataType attribute (subtypes such as
 * Duration → Double via findBasicDataType). Both are cached per server in the protocol.
 */
import type { ClientSession, NodeId } from 'node-opcua'
import { fail, ok, type Outcome } from '../driver.js'
import type { BrowseStep } from './codec.js'
import { classify, isBad, statusError } from './faults.js'
import type { OpcuaModule } from './shared.js'

const OBJECTS_FOLDER = 'ns=0;i=85'

export async function resolveBrowsePath(m: OpcuaModule, session: ClientSession, steps: readonly BrowseStep[], text: string): Promise<Outcome<string>> {
  let at: string = OBJECTS_FOLDER
  try {
    for (const step of steps) {
      const result = await session.browse({
        nodeId: at,
        browseDirection: m.BrowseDirection.Forward,
        referenceTypeId: 'HierarchicalReferences',
        includeSubtypes: true,
        resultMask: 0x3f,
      })
      if (isBad(result.statusCode)) return { ok: false, error: statusError(result.statusCode, `browse ${text}`) }
      const match = (result.references ?? []).find((r) => r.browseName.name === step.name && (step.namespace === undefined || r.browseName.namespaceIndex === step.namespace))
      if (match === undefined) return fail('OPCUA_NODE_NOT_FOUND', `browse path ${text}: no child "${step.name}" under ${at}`)
      at = match.nodeId.toString()
    }
    return ok(at)
  } catch (err) {
    return { ok: false, error: classify(err, false) }
  }
}

/** The built-in type (codec.ts BuiltIn) of the node's Value attribute. */
export async function readBuiltInType(m: OpcuaModule, session: ClientSession, nodeId: string): Promise<Outcome<number>> {
  try {
    const dv = await session.read({ nodeId, attributeId: m.AttributeIds.DataType })
    if (isBad(dv.statusCode)) return { ok: false, error: statusError(dv.statusCode, `read DataType of ${nodeId}`) }
    const typeId = dv.value.value as NodeId
    return ok(await m.findBasicDataType(session, typeId))
  } catch (err) {
    return { ok: false, error: classify(err, false) }
  }
}
