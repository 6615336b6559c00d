/**
 * Limits of the cloud–edge link's envelope, as plain values: the link's code checks them at run
 * time, and importing them from schemas/cloud-link.ts would load TypeBox and build the link's
 * schemas in every process with a cloud link (schemas/validated.ts: no process does).
 */

/** The longest `msg_id` / `parent_msg_id` accepted (KubeEdge's are UUIDs, 36 characters). */
export const MSG_ID_MAX_LENGTH = 128

/**
 * The deepest nesting of arrays and objects accepted in a frame. Every document of the link is a
 * few levels deep (a pod status about 7), while JSON.parse takes any depth and JSON.stringify,
 * which writes what a node reported to the API server, throws past a few thousand: a deeper frame
 * is refused on arrival instead of failing every time it is written.
 */
export const MAX_NESTING = 64

/**
 * The largest pod status a node may report: the length of its JSON (JSON.stringify's). A
 * kubelet's are a few KiB; the status schema keeps unknown fields, so without a bound a node could
 * write up to a frame's 16 MiB into a pod the API server stores whole (etcd takes 1.5 MiB per
 * object).
 */
export const POD_STATUS_MAX_BYTES = 256 * 1024

/**
 * The most containers (and, apart, init containers) a pod edged runs may have: a pod status lists
 * one status per container and the link carries at most this many, so edged refuses a larger pod
 * (the API server sets no bound) instead of running containers whose status could never be written.
 */
export const POD_CONTAINERS_MAX = 256

/**
 * The largest pod tern cloud sends a node: the length of its JSON as sent (without status and
 * kubectl's last-applied annotation). More than any pod an API server stores with etcd's default
 * request limit (1.5 MiB); a larger one (a server configured past that, or one that checks nothing)
 * would fill the link's frames and the node's store, so it is refused as a pod no node can be sent.
 */
export const POD_MAX_BYTES = 2 * 1024 * 1024
