// memory.show(): the cache's summary as an HTML table and chart in Jupyter, a text table in a terminal.
import { display } from "../runtime.ts";
import type { FunctionVersion, Stats } from "../types.ts";
import { htmlTable } from "./html-table.ts";
import { summarize } from "./summary.ts";
import { svgBarChart } from "./svg-chart.ts";
import { textTable } from "./text-table.ts";

/** What is shown: the cache directory, its function versions and its stats, as Memory reports them. */
export interface CacheView {
  readonly dir: string;
  readonly functions: readonly FunctionVersion[];
  readonly stats: Stats;
}

/** Renders `view` for where this process runs (a notebook kernel or a terminal) and displays it. */
export async function show(view: CacheView, now: number): Promise<void> {
  const summary = summarize({ ...view, now });
  await display({ html: htmlTable(summary) + svgBarChart(summary.bars), text: textTable(summary) });
}
