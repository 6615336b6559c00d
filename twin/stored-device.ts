/** The store's record of one member device: its resolved spec, its status and its twins. */
import { Type, type Static } from '@sinclair/typebox'
import { EdgeDevice } from '../schemas/device.js'
import { StringEnum } from '../schemas/typebox.js'
import { DeviceStates } from '../schemas/twin.js'
import { TwinRecord } from './types.js'

export const StoredDevice = Type.Object({
  spec: EdgeDevice,
  state: StringEnum(DeviceStates),
  lastOnline: Type.Optional(Type.String()),
  twins: Type.Record(Type.String(), TwinRecord),
})

export type DeviceRecord = Static<typeof StoredDevice>
