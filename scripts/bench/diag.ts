// Diagnosis run time through the API of a loaded exporter: POST /api/v1/diagnoses, one at a
// time. Two measures per run: the engine's own duration_ms (performance.now around the run,
// in the answer) and the round trip minus the median round trip of GET /healthz (the HTTP
// cost of an empty route), so the figure can be checked from outside too.
import { median, percentile, request } from "./util.ts";

export interface DiagResult {
  runs: number;
  engineMedianMs: number;
  engineP99Ms: number;
  roundTripMedianMs: number;
  roundTripP99Ms: number;
  emptyRouteMedianMs: number;
  /** Round trip minus the empty-route median. */
  netMedianMs: number;
  netP99Ms: number;
  scene: string | null;
}

export async function benchDiagnosis(url: string, runs = 300, warmup = 30): Promise<DiagResult> {
  const engine: number[] = [];
  const trip: number[] = [];
  const empty: number[] = [];
  let scene: string | null = null;
  for (let i = 0; i < warmup + runs; i++) {
    let t = performance.now();
    const res = await request(`${url}/api/v1/diagnoses`, { method: "POST" });
    const body = (await res.json()) as { duration_ms: number; scene: string | null };
    const rt = performance.now() - t;
    if (res.status !== 200) throw new Error(`POST /api/v1/diagnoses: ${res.status} ${JSON.stringify(body)}`);
    t = performance.now();
    const h = await request(`${url}/healthz`);
    await h.arrayBuffer();
    const et = performance.now() - t;
    if (i < warmup) continue;
    engine.push(body.duration_ms);
    trip.push(rt);
    empty.push(et);
    scene = body.scene;
  }
  const base = median(empty);
  return {
    runs,
    engineMedianMs: median(engine),
    engineP99Ms: percentile(engine, 99),
    roundTripMedianMs: median(trip),
    roundTripP99Ms: percentile(trip, 99),
    emptyRouteMedianMs: base,
    netMedianMs: median(trip) - base,
    netP99Ms: percentile(trip, 99) - base,
    scene,
  };
}
