// Reads a password from the terminal without echo, for `--user` without `--password`.
import { UsageError } from "./errors.ts";
import { writeErr } from "../stdio.ts";

/** Prompts on stderr and reads one line from a terminal; refuses when stdin is not one. */
export async function readPassword(prompt: string): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY || typeof stdin.setRawMode !== "function") {
    throw new UsageError("--user: give --password (or XCTL_PASSWORD) too; there is no terminal to ask on");
  }
  // Echo off before the prompt shows: what is typed once it is asked for is never echoed (the
  // other way round, a password typed the moment the prompt appeared was echoed in clear).
  stdin.setRawMode(true);
  writeErr(prompt);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let text = "";
      const onData = (chunk: Buffer | string) => {
        for (const ch of String(chunk)) {
          if (ch === "\r" || ch === "\n") {
            stdin.off("data", onData);
            return resolve(text);
          }
          if (ch === "\u0003" || ch === "\u0004") {
            stdin.off("data", onData);
            return reject(new UsageError("--user: no password given"));
          }
          if (ch === "\u007f" || ch === "\b") text = text.slice(0, -1);
          else text += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
    writeErr("\n");
  }
}
