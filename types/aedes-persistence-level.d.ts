declare module 'aedes-persistence-level' {
  /** Returns an aedes persistence backed by the given abstract-level database (no types upstream). */
  export default function levelPersistence(db: unknown): unknown
}
