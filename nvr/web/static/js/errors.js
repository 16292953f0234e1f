// Camera and network errors as a sentence a person can act on. The recorder's
// errors are written for logs ("camera garage: cannot connect to 10.0.0.5:554:
// [Errno 111] Connect call failed ('10.0.0.5', 554)"); a tile or the player shows
// what went wrong in plain words. Unknown errors pass through unchanged.
// The same table for server-rendered pages is templates/_errors.html: keep them alike.

const RULES = [
  [/errno 111|connection refused|connect call failed/i,
    (where) => `Nothing answers${where} (connection refused): is it on, and is the address right?`],
  [/errno 113|no route to host|errno 101|network is unreachable/i,
    (where) => `Can't reach anything${where}: no route on the network.`],
  [/errno -[235]|name or service not known|name resolution|nodename nor servname/i,
    () => "The host name does not resolve: check the address."],
  [/did not answer in time|timed out|timeout/i,
    (where) => `No answer${where} in time: it may be busy, off or unreachable.`],
  [/answered 401|unauthori[sz]ed/i,
    () => "The camera refused the username or password."],
  [/answered 404/i,
    () => "The camera has no stream at this path: check the URL."],
  [/all connection attempts failed/i,
    () => "Could not connect: nothing answered."],
];

export function plainError(text) {
  if (!text) return "";
  const raw = String(text).replace(/^camera [^:]+: /, "");
  const target = raw.match(/connect to ([^\s:]+:\d+)/);
  const where = target ? ` at ${target[1]}` : "";
  for (const [pattern, say] of RULES) {
    if (pattern.test(raw)) return say(where);
  }
  return raw;
}
