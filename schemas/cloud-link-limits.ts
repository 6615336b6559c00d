/**
 * Limits of the cloud–edge link's envelope, as plain values: the link's code checks them at run
 * time, and importing them from schemas/cloud-link.ts would load TypeBox and build the link's
 * schemas in every process with a cloud link (schemas/validated.ts: no process does).
 */

/** The longest `msg_id` / `parent_msg_id` accepted (KubeEdge's are UUIDs, 36 characters). */
export const MSG_ID_MAX_LENGTH = 128
