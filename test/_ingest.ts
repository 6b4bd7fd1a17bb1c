// Feeding an in-process exporter through its ingest pipeline, as a source does.
import type { Exporter } from "../src/exporter.ts";
import type { RejectReason } from "../src/events/schema.ts";

const _enc = new TextEncoder();

/** One NDJSON line through a feed of its own: the rejection reason, or undefined when accepted. */
export async function ingestLine(ex: Exporter, line: string, source = "test"): Promise<RejectReason | undefined> {
  let reason: RejectReason | undefined;
  const feed = ex.ingest.feed(source, { onReject: (r) => (reason ??= r) });
  await feed.push(_enc.encode(line + "\n"));
  await feed.end();
  return reason;
}
