// HEAD answered with the headers GET would send. Hono answers HEAD by running the GET route and
// dropping the body; the runtime then said `Content-Length: 0` for every route but the metrics
// (which sets its length itself), and the gzip that GET would apply was not announced.
import type { MiddlewareHandler } from "hono";
import { COMPRESSIBLE_CONTENT_TYPE_REGEX } from "hono/compress";
import type { AppEnv } from "./env.ts";

/** The compress middleware leaves a body alone when its declared length is under this. */
const _GZIP_THRESHOLD = 1024;

/**
 * For HEAD: the body GET would send is measured (gzipped first where GET would gzip it: the
 * client accepts gzip, the type compresses, no `no-transform`, and no declared length under
 * the threshold), and its length is set. A response without a body (the event stream) or
 * already encoded (the metrics) is left as it is.
 */
export function headLikeGet(acceptsGzip: (header: string | undefined) => boolean): MiddlewareHandler<AppEnv> {
  return async (c, next) => {
    await next();
    if (c.req.method !== "HEAD") return;
    const res = c.res;
    if (res.body === null || res.headers.has("Content-Encoding")) return;
    const declared = Number(res.headers.get("Content-Length") ?? NaN);
    const eligible = !(declared < _GZIP_THRESHOLD) && _compressible(res.headers);
    if (Number.isFinite(declared) && !eligible) return;
    let body = new Uint8Array(await res.arrayBuffer());
    // Hono copies the old answer's headers onto the new one: set ours after.
    c.res = new Response(null, { status: res.status, headers: res.headers });
    const headers = c.res.headers;
    if (eligible) {
      const vary = headers.get("Vary");
      if (!vary || !/(^|,)\s*accept-encoding\s*(,|$)/i.test(vary)) headers.set("Vary", vary ? `${vary}, Accept-Encoding` : "Accept-Encoding");
      if (acceptsGzip(c.req.header("Accept-Encoding"))) {
        // The same compressor as the compress middleware, so the length is the one GET sends.
        body = new Uint8Array(await new Response(new Blob([body]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
        headers.set("Content-Encoding", "gzip");
      }
    }
    headers.set("Content-Length", String(body.length));
  };
}

/** The compress middleware's checks on the type and the caching headers. */
function _compressible(headers: Headers): boolean {
  if (headers.has("Transfer-Encoding")) return false;
  if (/(^|,)\s*no-transform\s*(,|$)/i.test(headers.get("Cache-Control") ?? "")) return false;
  return COMPRESSIBLE_CONTENT_TYPE_REGEX.test(headers.get("Content-Type") ?? "");
}
