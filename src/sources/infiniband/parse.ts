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
 * PMA error counters in a port's `counters/` whose rise means lost or retried traffic
 * (`transport.drop`). The core makes `counters/` only for drivers that answer performance
 * management MADs (mlx4, mlx5, hfi1, qedr, ...; bnxt_re since 2025); irdma and efa have none.
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

/** What a driver's hardware counter counts, as builtin:infiniband reads it. */
export type HwRole = "cnp_sent" | "cnp_received" | "cnp_ignored" | "ecn_marked" | "drop";

/**
 * Per driver, the `hw_counters/` files read and what each counts. The names are each driver's
 * own (its `rdma_stat_desc` table); every driver puts them under `ports/<n>/hw_counters/`, and
 * mlx5 in switchdev mode under the device's `hw_counters/` instead. A driver older than a name
 * lacks the file, which is then skipped.
 * - mlx5 (drivers/infiniband/hw/mlx5/counters.c): congestion from `query_cong_statistics`,
 *   transport retries and sequence errors from its queue counters.
 * - bnxt_re (drivers/infiniband/hw/bnxt_re/hw_counters.c): CNP and ECN counters on chips with
 *   extended stats (P5 and later: Thor, Thor 2), RoCE discards and transport errors on all.
 * - irdma (drivers/infiniband/hw/irdma/verbs.c, E810 and X722): CNP and ECN counters on gen 2
 *   (E810), IP-level discards of the RDMA engine on all.
 * - efa (drivers/infiniband/hw/efa/efa_verbs.c): SRD, not RoCE, so no ECN or CNP; receive drops.
 */
export const HW_COUNTERS_BY_DRIVER: Readonly<Record<string, Readonly<Record<string, HwRole>>>> = {
  mlx5: {
    np_cnp_sent: "cnp_sent",
    rp_cnp_handled: "cnp_received",
    rp_cnp_ignored: "cnp_ignored",
    np_ecn_marked_roce_packets: "ecn_marked",
    out_of_sequence: "drop",
    packet_seq_err: "drop",
    local_ack_timeout_err: "drop",
    rnr_nak_retry_err: "drop",
    implied_nak_seq_err: "drop",
    duplicate_request: "drop",
  },
  bnxt_re: {
    tx_cnp_pkts: "cnp_sent",
    rx_cnp_pkts: "cnp_received",
    rx_ecn_marked_pkts: "ecn_marked",
    rx_roce_discards: "drop",
    rx_roce_errors: "drop",
    to_retransmits: "drop",
    seq_err_naks_rcvd: "drop",
    oos_drop_count: "drop",
    dup_req: "drop",
    max_retry_exceeded: "drop",
  },
  irdma: {
    cnpSent: "cnp_sent",
    cnpHandled: "cnp_received",
    cnpIgnored: "cnp_ignored",
    RxECNMrkd: "ecn_marked",
    ip4InDiscards: "drop",
    ip6InDiscards: "drop",
  },
  efa: {
    rx_drops: "drop",
  },
};

/** Every name of the table, whichever driver has it (no two drivers share a name). */
export const HW_COUNTER_ROLES: ReadonlyMap<string, HwRole> = new Map(
  Object.values(HW_COUNTERS_BY_DRIVER).flatMap((names) => Object.entries(names)),
);

/** `hw_counters/` names whose rise is lost or retried traffic. */
export const DROP_HW_COUNTERS: readonly string[] = [...HW_COUNTER_ROLES].filter(([, r]) => r === "drop").map(([n]) => n);

/** RoCE congestion control (DCQCN and the like): CNPs sent, received and ignored, packets ECN-marked on arrival. */
export const CONGESTION_HW_COUNTERS: readonly string[] = [...HW_COUNTER_ROLES].filter(([, r]) => r !== "drop").map(([n]) => n);

/** Data counters, in units of 4-byte words. */
export const DATA_COUNTERS: readonly string[] = ["port_xmit_data", "port_rcv_data"];

/** `/dev/infiniband/uverbs3` → "uverbs3" (what a process holds when it uses a verbs device). */
export function uverbsOf(target: string): string | null {
  const m = /^\/dev\/infiniband\/(uverbs\d+)$/.exec(target);
  return m === null ? null : m[1];
}
