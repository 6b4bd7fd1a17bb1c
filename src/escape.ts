// Text from events (job ids, entity ids, values, probe output) reaches terminals and logs.
// `escapeControl` makes every control character visible, so a `\n` cannot forge a table row and
// an ESC cannot drive the terminal: C0 controls, DEL and C1 controls become `\n`, `\t`, `\r` or
// `\xHH`; a lone surrogate becomes `\uHHHH`. Printable text, non-ASCII included, is unchanged.

// deno-lint-ignore no-control-regex
const _CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

export function escapeControl(s: string): string {
  return _CONTROL.test(s) ? s.replace(_CONTROL, _escapeOne) : s;
}

function _escapeOne(c: string): string {
  if (c === "\n") return "\\n";
  if (c === "\t") return "\\t";
  if (c === "\r") return "\\r";
  const code = c.charCodeAt(0);
  return code <= 0xff ? "\\x" + code.toString(16).padStart(2, "0") : "\\u" + code.toString(16).padStart(4, "0");
}
