// RDMA devices of other drivers than test/fixtures/host's mlx5/mlx4, written under a sysfs tree
// the way each driver lays them out: which counter folders exist (the port's PMA `counters/` only
// for drivers answering performance MADs; `hw_counters/` per port, or per device for mlx5 in
// switchdev mode) and every counter file the driver has there, under its own name. The names
// are those of each driver's stat table in the kernel source (cited per list); values start at 0.
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";

/** drivers/infiniband/hw/bnxt_re/hw_counters.c (bnxt_re_stat_descs), a P5+ chip with extended stats (Thor). */
export const BNXT_RE_HW = [
  "active_pds", "active_ahs", "active_qps", "active_rc_qps", "active_ud_qps", "active_srqs", "active_cqs", "active_mrs", "active_mws",
  "watermark_pds", "watermark_ahs", "watermark_qps", "watermark_rc_qps", "watermark_ud_qps", "watermark_srqs", "watermark_cqs",
  "watermark_mrs", "watermark_mws", "resize_cq_cnt", "rx_pkts", "rx_bytes", "tx_pkts", "tx_bytes", "recoverable_errors",
  "tx_roce_errors", "tx_roce_discards", "rx_roce_errors", "rx_roce_discards", "to_retransmits", "seq_err_naks_rcvd",
  "max_retry_exceeded", "rnr_naks_rcvd", "missing_resp", "unrecoverable_err", "bad_resp_err", "local_qp_op_err",
  "local_protection_err", "mem_mgmt_op_err", "remote_invalid_req_err", "remote_access_err", "remote_op_err", "dup_req",
  "res_exceed_max", "res_length_mismatch", "res_exceeds_wqe", "res_opcode_err", "res_rx_invalid_rkey", "res_rx_domain_err",
  "res_rx_no_perm", "res_rx_range_err", "res_tx_invalid_rkey", "res_tx_domain_err", "res_tx_no_perm", "res_tx_range_err",
  "res_irrq_oflow", "res_unsup_opcode", "res_unaligned_atomic", "res_rem_inv_err", "res_mem_err", "res_srq_err", "res_cmp_err",
  "res_invalid_dup_rkey", "res_wqe_format_err", "res_cq_load_err", "res_srq_load_err", "res_tx_pci_err", "res_rx_pci_err",
  "oos_drop_count", "tx_atomic_req", "tx_read_req", "tx_read_resp", "tx_write_req", "tx_send_req", "tx_roce_only_pkts",
  "tx_roce_only_bytes", "rx_atomic_req", "rx_read_req", "rx_read_resp", "rx_write_req", "rx_send_req", "rx_roce_only_pkts",
  "rx_roce_only_bytes", "rx_roce_good_pkts", "rx_roce_good_bytes", "rx_out_of_buffer", "tx_cnp_pkts", "rx_cnp_pkts",
  "rx_ecn_marked_pkts", "pacing_reschedule", "pacing_complete", "pacing_alerts", "db_fifo_register",
];

/** drivers/infiniband/hw/irdma/verbs.c (irdma_hw_stat_names), gen 2 (E810). */
export const IRDMA_HW = [
  "rxVlanErrors", "ip4InDiscards", "ip4InTruncatedPkts", "ip4OutNoRoutes", "ip6InDiscards", "ip6InTruncatedPkts", "ip6OutNoRoutes",
  "tcpRetransSegs", "tcpInOptErrors", "tcpInProtoErrors", "cnpHandled", "cnpIgnored", "cnpSent", "ip4InOctets", "ip4InPkts",
  "ip4InReasmRqd", "ip4InMcastOctets", "ip4InMcastPkts", "ip4OutOctets", "ip4OutPkts", "ip4OutSegRqd", "ip4OutMcastOctets",
  "ip4OutMcastPkts", "ip6InOctets", "ip6InPkts", "ip6InReasmRqd", "ip6InMcastOctets", "ip6InMcastPkts", "ip6OutOctets",
  "ip6OutPkts", "ip6OutSegRqd", "ip6OutMcastOctets", "ip6OutMcastPkts", "tcpInSegs", "tcpOutSegs", "iwInRdmaReads", "iwInRdmaSends",
  "iwInRdmaWrites", "iwOutRdmaReads", "iwOutRdmaSends", "iwOutRdmaWrites", "iwRdmaBnd", "iwRdmaInv", "RxUDP", "TxUDP", "RxECNMrkd",
];

/** drivers/infiniband/hw/mlx5/counters.c: queue, congestion and extended PPCNT counters (device level in switchdev mode). */
export const MLX5_HW = [
  "rx_write_requests", "rx_read_requests", "rx_atomic_requests", "rx_dct_connect", "out_of_buffer", "out_of_sequence",
  "duplicate_request", "rnr_nak_retry_err", "packet_seq_err", "implied_nak_seq_err", "local_ack_timeout_err",
  "resp_local_length_error", "resp_cqe_error", "req_cqe_error", "req_remote_invalid_request", "req_remote_access_errors",
  "resp_remote_access_errors", "resp_cqe_flush_error", "req_cqe_flush_error", "req_transport_retries_exceeded",
  "req_rnr_retries_exceeded", "roce_adp_retrans", "roce_adp_retrans_to", "roce_slow_restart", "roce_slow_restart_cnps",
  "roce_slow_restart_trans", "rp_cnp_ignored", "rp_cnp_handled", "np_ecn_marked_roce_packets", "np_cnp_sent", "rx_icrc_encapsulated",
];

/** drivers/infiniband/hw/efa/efa_verbs.c: port stats (EFA_DEFINE_PORT_STATS) and device stats (EFA_DEFINE_DEVICE_STATS). */
export const EFA_PORT_HW = [
  "tx_bytes", "tx_pkts", "rx_bytes", "rx_pkts", "rx_drops", "send_bytes", "send_wrs", "recv_bytes", "recv_wrs", "rdma_read_wrs",
  "rdma_read_bytes", "rdma_read_wr_err", "rdma_read_resp_bytes",
];
export const EFA_DEVICE_HW = [
  "submitted_cmds", "completed_cmds", "cmds_err", "no_completion_cmds", "keep_alive_rcvd", "alloc_pd_err", "create_qp_err",
  "create_cq_err", "reg_mr_err", "alloc_ucontext_err", "create_ah_err", "mmap_err",
];

/** The PMA group of drivers/infiniband/core/sysfs.c, for drivers with process_mad. */
export const PMA = [
  "symbol_error", "link_error_recovery", "link_downed", "port_rcv_errors", "port_rcv_remote_physical_errors",
  "port_rcv_switch_relay_errors", "port_xmit_discards", "port_xmit_constraint_errors", "port_rcv_constraint_errors",
  "local_link_integrity_errors", "excessive_buffer_overrun_errors", "VL15_dropped", "port_xmit_data", "port_rcv_data",
  "port_xmit_packets", "port_rcv_packets", "unicast_rcv_packets", "unicast_xmit_packets", "multicast_rcv_packets",
  "multicast_xmit_packets", "port_xmit_wait",
];

export interface RdmaDevice {
  /** As class/infiniband names it: the kernel's (`bnxt_re0`, `irdma0`, `efa_0`) or rdma-core's persistent one (`rocep65s0f0`). */
  device: string;
  linkLayer: "Ethernet" | "InfiniBand" | "Unspecified";
  /** `hw_counters/` under each port. */
  portHw?: readonly string[];
  /** `hw_counters/` of the device itself. */
  deviceHw?: readonly string[];
  /** The port's PMA `counters/`. */
  pma?: boolean;
  /** `uverbsN` that maps to it in class/infiniband_verbs. */
  uverbs: number;
}

/** Writes the device under `<root>/sys`, port 1 ACTIVE/LinkUp. */
export function writeRdmaDevice(root: string, d: RdmaDevice): void {
  const dev = join(root, "sys/class/infiniband", d.device);
  const port = join(dev, "ports/1");
  _w(join(dev, "node_type"), "1: CA\n");
  _w(join(port, "state"), "4: ACTIVE\n");
  _w(join(port, "phys_state"), "5: LinkUp\n");
  _w(join(port, "link_layer"), `${d.linkLayer}\n`);
  if (d.portHw !== undefined) for (const n of [...d.portHw, "lifespan"]) _w(join(port, "hw_counters", n), n === "lifespan" ? "10\n" : "0\n");
  if (d.deviceHw !== undefined) for (const n of [...d.deviceHw, "lifespan"]) _w(join(dev, "hw_counters", n), n === "lifespan" ? "10\n" : "0\n");
  if (d.pma === true) for (const n of PMA) _w(join(port, "counters", n), "0\n");
  _w(join(root, "sys/class/infiniband_verbs", `uverbs${d.uverbs}`, "ibdev"), `${d.device}\n`);
}

/** `<root>/proc/<pid>` holding `/dev/infiniband/uverbsN` open on fd 3 for each of `uverbs`. */
export function writeVerbsUser(root: string, pid: number, uverbs: readonly number[]): void {
  _w(join(root, "proc", String(pid), "stat"), `${pid} (python3) S 1 ${pid} ${pid} 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 2318844\n`);
  uverbs.forEach((u, i) => {
    mkdirSync(join(root, "proc", String(pid), "fd"), { recursive: true });
    symlinkSync(`/dev/infiniband/uverbs${u}`, join(root, "proc", String(pid), "fd", String(3 + i)));
  });
}

/** Adds `by` to a counter file (path under `root`). */
export function bumpCounter(root: string, rel: string, by: bigint): void {
  const path = join(root, rel);
  writeFileSync(path, `${BigInt(readFileSync(path, "utf8").trim()) + by}\n`);
}

function _w(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
}
