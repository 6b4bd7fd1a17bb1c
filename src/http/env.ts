// What the runtime edge tells the app about each request, as Hono's `c.env`.
export interface ConnEnv {
  /** The peer's IP address ("" when the runtime cannot say). */
  remoteAddress: string;
}

export type AppEnv = { Bindings: ConnEnv };
