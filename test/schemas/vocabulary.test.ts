import assert from 'node:assert/strict'
import { PROPERTY_TYPES, twinType } from '../../schemas/vocabulary.js'
import { valueKind } from '../../twin/values.js'

describe('twin type of a model property type (schemas/vocabulary.ts)', () => {
  // KubeEdge v1.14 DeviceController constants (int, float, double, boolean, string, bytes), which
  // legacy mappers send as `metadata.type`; the v1beta1 mapper framework lower-cases the model type.
  const kubeedge = { INT: 'int', FLOAT: 'float', DOUBLE: 'double', STRING: 'string', BOOLEAN: 'boolean', BYTES: 'bytes', STREAM: 'stream' }

  it('is the name KubeEdge sends for each model type', () => {
    assert.deepEqual(Object.fromEntries(PROPERTY_TYPES.map((t) => [t, twinType(t)])), kubeedge)
  })

  it('is a type the twin accepts, checked as before: double as float, bytes as base64, stream as string', () => {
    assert.deepEqual(
      PROPERTY_TYPES.map((t) => valueKind(twinType(t))),
      ['int', 'float', 'float', 'string', 'boolean', 'bytes', 'string'],
    )
  })
})
