// memory.map()'s progress: one display updated in place in a notebook, one rewritten line on a terminal, lines only when asked in a script.
import { formatDuration } from "../format.ts";
import { inNotebook, liveLine, printProgress } from "../runtime.ts";
import type { ProgressSink, ProgressState } from "../types.ts";
import { escapeHtml } from "./escape.ts";

// Redrawn at most this often while running (a notebook front end re-renders each update; a few per
// second reads as live without flooding the kernel's iopub channel).
const REDRAW_MS = 200;
// A script that asked for progress on a non-terminal stderr (a log file) gets a line per tenth done.
const LOG_STEPS = 10;

/** The state as one line: `load: 40/100 (12 hits, 28 computed, 1 failed), 3.2 s, about 4.8 s left`. */
export function progressText(state: ProgressState): string {
  const done = state.hits + state.computed + state.failed;
  const parts = [`${state.hits} hits`, `${state.computed} computed`];
  if (state.failed > 0) parts.push(`${state.failed} failed`);
  let text = `${state.name}: ${done}/${state.total} (${parts.join(", ")}), ${formatDuration(state.elapsedMs)}`;
  const left = etaMs(state);
  if (done < state.total && left !== undefined) text += `, about ${formatDuration(left)} left`;
  return text;
}

/** The state as a small HTML progress bar with its line under it. */
export function progressHtml(state: ProgressState): string {
  const done = state.hits + state.computed + state.failed;
  return `<div><progress value="${done}" max="${Math.max(state.total, 1)}" style="width:24em"></progress> ` +
    `<span style="font-family:monospace">${escapeHtml(progressText(state))}</span></div>`;
}

// Items read back take next to no time: what is left is estimated from the time per item computed so far.
function etaMs(state: ProgressState): number | undefined {
  const done = state.hits + state.computed + state.failed;
  const slow = state.computed + state.failed;
  if (slow === 0) return undefined;
  return (state.elapsedMs / slow) * (state.total - done);
}

/**
 * The sink for where this process runs: a live display in a notebook; one rewritten line on a terminal
 * (stderr); in a script whose stderr is no terminal, nothing unless `asked`, then a line per tenth done.
 * `mode` false shows nothing anywhere.
 */
export function progressSink(mode: boolean | "auto", now: () => number = () => performance.now()): ProgressSink | undefined {
  if (mode === false) return undefined;
  let last = -Infinity;
  const throttled = (draw: (state: ProgressState) => void) => (state: ProgressState) => {
    const t = now();
    if (t - last < REDRAW_MS) return;
    last = t;
    draw(state);
  };
  const line = liveLine();
  if (line) {
    const draw = (state: ProgressState) => line.set(progressText(state), progressHtml(state));
    return { update: throttled(draw), done: (state) => (draw(state), line.end()) };
  }
  if (inNotebook()) return undefined; // a kernel whose displays cannot be updated: no progress rather than lines
  if (mode !== true) return undefined;
  let step = 0;
  return {
    update(state) {
      const reached = Math.floor(((state.hits + state.computed + state.failed) / Math.max(state.total, 1)) * LOG_STEPS);
      if (reached > step && reached < LOG_STEPS) printProgress(progressText(state));
      step = Math.max(step, reached);
    },
    done: (state) => printProgress(progressText(state)),
  };
}
