// `--probe CMD` to argv, split the way a POSIX shell splits words, so that quoting works as
// users expect. Nothing else a shell does happens: no variables, globs, pipes or redirection,
// and the probe is never run through a shell.
import { UsageError } from "../errors.ts";

/** Characters a backslash escapes inside double quotes (POSIX); elsewhere it stays. */
const DQ_ESCAPABLE = new Set(["$", "`", '"', "\\", "\n"]);

export function splitCommand(cmd: string): string[] {
  const words: string[] = [];
  let word = "";
  /** A word has begun even if still empty: `''` is an empty argument. */
  let inWord = false;
  let i = 0;
  const n = cmd.length;
  while (i < n) {
    const c = cmd[i];
    if (c === " " || c === "\t" || c === "\n" || c === "\r") {
      if (inWord) words.push(word);
      word = "";
      inWord = false;
      i++;
    } else if (c === "'") {
      const close = cmd.indexOf("'", i + 1);
      if (close === -1) throw _unclosed("'", cmd);
      word += cmd.slice(i + 1, close);
      inWord = true;
      i = close + 1;
    } else if (c === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= n) throw _unclosed('"', cmd);
        const d = cmd[i];
        if (d === '"') break;
        if (d === "\\" && i + 1 < n && DQ_ESCAPABLE.has(cmd[i + 1])) {
          if (cmd[i + 1] !== "\n") word += cmd[i + 1]; // backslash-newline joins lines
          i += 2;
        } else {
          word += d;
          i++;
        }
      }
      i++;
    } else if (c === "\\") {
      if (i + 1 >= n) {
        word += "\\"; // a trailing backslash has nothing to escape: keep it
        inWord = true;
        i++;
      } else {
        if (cmd[i + 1] !== "\n") {
          word += cmd[i + 1];
          inWord = true;
        }
        i += 2;
      }
    } else {
      word += c;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(word);
  return words;
}

function _unclosed(quote: string, cmd: string): UsageError {
  return new UsageError(`--probe: unclosed ${quote} quote in ${JSON.stringify(cmd)}`);
}
