// The sysfs files of an RDMA port (Documentation/ABI/stable/sysfs-class-infiniband), parsed
// from their text: `state` "4: ACTIVE", `phys_state` "5: LinkUp", `link_layer` "InfiniBand" or
// "Ethernet", and one decimal counter per file in `counters/` and `hw_counters/`.

/** `4: ACTIVE` → {code 4, name "ACTIVE"}; null when the text is not in that form. */
export function parsePortState(text: string): { code: number; name: string } | null {
  const m = /^\s*(\d+):\s*(.*?)\s*$/.exec(text);
  return m === null ? null : { code: Number(m[1]), name: m[2] };
}

/** Port state 4 is ACTIVE; physical state 5 is LinkUp. */
export const STATE_ACTIVE = 4;
export const PHYS_LINK_UP = 5;

/** A counter file's value (64-bit counters pass 2^53, hence bigint); null when not a number. */
export function parseCounter(text: string): bigint | null {
  const t = text.trim();
  return /^\d{1,20}$/.test(t) ? BigInt(t) : null;
}

/**
 * Error counters whose rise means lost or retried traffic (`transport.drop`): the port's
 * `counters/` (PMA error counters) and the transport errors mlx5 keeps in `hw_counters/`.
 */
export const DROP_COUNTERS: readonly string[] = [
  "symbol_error",
  "link_error_recovery",
  "link_downed",
  "port_rcv_errors",
  "port_xmit_discards",
  "local_link_integrity_errors",
  "excessive_buffer_overrun_errors",
  "port_rcv_remote_physical_errors",
];
export const DROP_HW_COUNTERS: readonly string[] = [
  "out_of_sequence",
  "packet_seq_err",
  "local_ack_timeout_err",
  "rnr_nak_retry_err",
  "implied_nak_seq_err",
  "duplicate_request",
];

/** RoCE congestion control (DCQCN): CNPs sent and handled, packets ECN-marked on arrival. */
export const CONGESTION_HW_COUNTERS: readonly string[] = ["np_cnp_sent", "rp_cnp_handled", "np_ecn_marked_roce_packets", "rp_cnp_ignored"];

/** Data counters, in units of 4-byte words. */
export const DATA_COUNTERS: readonly string[] = ["port_xmit_data", "port_rcv_data"];

/** `/dev/infiniband/uverbs3` → "uverbs3" (what a process holds when it uses a verbs device). */
export function uverbsOf(target: string): string | null {
  const m = /^\/dev\/infiniband\/(uverbs\d+)$/.exec(target);
  return m === null ? null : m[1];
}
