// Plain HTTP on the TLS port gets an HTTP 400 that says to use https, as Go's servers answer,
// instead of a dropped connection. A front listener reads each connection's first byte: a TLS
// handshake (0x16) goes on to the TLS server, anything else gets the 400 and is closed.
//   Node: the socket is handed to the node:https server itself (`emit("connection")`).
//   Bun and Deno serve TLS in their own servers, which take no handed-over socket: the front
//   relays the bytes to that server listening on loopback, and remembers, per relay socket's
//   local port, whose connection it carries, so the app still sees the real peer address.
//   A connection to the inner server that is no relay has no known peer: "" (not loopback).
import { Buffer } from "node:buffer";
import { connect, createServer, type Server, type Socket } from "node:net";

const _MAX_PEEK_WAIT_MS = 10_000;

/** Where a TLS connection goes after its first byte. */
export type TlsHandoff = { kind: "emit"; server: { emit(event: "connection", socket: Socket): unknown } } | { kind: "relay"; port: number };

export interface TlsFront {
  readonly port: number;
  /** The real peer of a relayed connection, by the relay socket's local port. */
  peerOf(relayPort: number): string | undefined;
  close(): Promise<void>;
}

/** The answer to a plain HTTP request on the TLS port. */
export function plainHttpAnswer(): string {
  const body = JSON.stringify({ error: "this port serves HTTPS: use https:// (the request came as plain HTTP)" }) + "\n";
  return `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

export function startTlsFront(hostname: string, port: number, handoff: TlsHandoff): Promise<TlsFront> {
  const peers = new Map<number, string>();
  const open = new Set<Socket>();
  const server: Server = createServer((sock) => {
    open.add(sock);
    sock.once("close", () => open.delete(sock));
    sock.on("error", () => sock.destroy());
    sock.setTimeout(_MAX_PEEK_WAIT_MS, () => sock.destroy());
    sock.once("data", (first: Buffer) => {
      sock.setTimeout(0);
      if (first[0] !== 0x16) {
        sock.end(plainHttpAnswer());
        return;
      }
      sock.pause();
      if (handoff.kind === "emit") {
        sock.unshift(first);
        open.delete(sock);
        handoff.server.emit("connection", sock);
        process.nextTick(() => sock.resume());
        return;
      }
      const inner = connect({ host: "127.0.0.1", port: handoff.port });
      open.add(inner);
      inner.once("close", () => open.delete(inner));
      inner.once("connect", () => {
        const local = inner.localPort;
        if (local !== undefined) {
          peers.set(local, sock.remoteAddress ?? "");
          inner.once("close", () => peers.delete(local));
        }
        inner.write(first);
        sock.pipe(inner);
        inner.pipe(sock);
        sock.resume();
      });
      inner.on("error", () => sock.destroy());
      sock.once("close", () => inner.destroy());
      inner.once("close", () => sock.destroy());
    });
  });
  return new Promise<TlsFront>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, hostname, () => {
      server.off("error", reject);
      const addr = server.address();
      resolve({
        port: typeof addr === "object" && addr !== null ? addr.port : port,
        peerOf: (p) => peers.get(p),
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const s of open) s.destroy();
          }),
      });
    });
  });
}
