// Camera and network errors as a sentence a person can act on. The recorder's
// errors are written for logs ("camera garage: cannot connect to 10.0.0.5:554:
// [Errno 111] Connect call failed ('10.0.0.5', 554)"); a tile or the player shows
// what went wrong in plain words. Unknown errors pass through unchanged. The rules
// are plain_errors.json, which the server-rendered pages use too (nvr/web/plain_errors.py).

let rules = [];
try {
  const answer = await fetch(new URL("./plain_errors.json", import.meta.url));
  if (answer.ok) rules = (await answer.json()).rules.map(([p, say]) => [new RegExp(p, "i"), say]);
} catch {
  // without the rules, errors show as they are
}

export function plainError(text) {
  if (!text) return "";
  const raw = String(text).replace(/^camera [^:]+: /, "");
  const target = raw.match(/connect to ([^\s:]+:\d+)/);
  const where = target ? ` at ${target[1]}` : "";
  for (const [pattern, say] of rules) {
    if (pattern.test(raw)) return say.replace("{where}", where);
  }
  return raw;
}
