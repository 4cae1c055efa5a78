// Human-readable durations and sizes, for notices, tables and the CLI.

/** Formats milliseconds: "0.4 ms", "12 ms", "1.23 s", "2 min 5 s", "1 h 4 min". */
export function formatDuration(ms: number): string {
  if (ms < 1) return `${ms.toFixed(1)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const min = Math.floor(s / 60);
  if (min < 60) return `${min} min ${Math.round(s % 60)} s`;
  return `${Math.floor(min / 60)} h ${min % 60} min`;
}

/** Formats a byte count with decimal units: "512 B", "1.2 kB", "34 MB". */
export function formatBytes(bytes: number): string {
  const units = ["B", "kB", "MB", "GB", "TB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) value /= 1000, unit++;
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** How long ago `at` was, seen from `now`: "3 min 5 s ago", "just now", or "never" for a zero time. */
export function formatAgo(at: number, now: number): string {
  if (at <= 0) return "never";
  const ms = now - at;
  return ms < 1000 ? "just now" : `${formatDuration(ms)} ago`;
}

/** A version as people read it: a pinned one by its pin, a source hash by its first 12 digits. */
export function shortVersion(version: string): string {
  return version.startsWith("pinned:") ? version : version.slice(0, 12);
}

/** A count with its noun: "1 entry", "3 entries", "0 hits". */
export function formatCount(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
