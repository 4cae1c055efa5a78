"""Executes notebooks/ in their kernels (nbclient), in the order a plan gives, each run in a fresh kernel
process, and writes the executed notebooks and a runs.json (seconds, error) for test/notebooks.test.ts.

    /usr/bin/python3 scripts/execute-notebooks.py PLAN.json OUT_DIR [TSLAB_DIR]

PLAN.json lists runs: {"run": name, "notebook": file in notebooks/, "cache": name} (with "kernel": "tslab" |
"deno" to run it in another kernel than its own: for a notebook written for both), or instead of
"notebook" {"cells": folder, "kernel": "tslab" | "deno"}: a notebook made of the folder's files, one cell
each in name order (the corpus: the same cells for both kernels). Runs that name the same cache share one
cache directory (OUT_DIR/caches/NAME, given to the kernel as NBMEMO_DIR), which starts empty. Kernel specs
come from JUPYTER_PATH (scripts/toolchain.mjs writes them). A tslab kernel
runs in TSLAB_DIR when given (a project where nbmemo is installed, with the notebooks' data/), so that
its `import ... from "nbmemo"` is the installed package; other kernels run in notebooks/.
"""
import json
import os
import shutil
import sys
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionComplete
from jupyter_core.utils import ensure_async

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "notebooks")
KERNELS = {
    "tslab": {"name": "tslab", "display_name": "TypeScript (tslab)", "language": "typescript"},
    "deno": {"name": "deno", "display_name": "Deno", "language": "typescript"},
}


class Client(NotebookClient):
    """nbclient, plus the outputs the Deno kernel (2.9) publishes after it said "idle" (nbclient stops
    listening at "idle"; Jupyter front ends keep routing late messages to their cell)."""

    GRACE_SECONDS = 0.3

    async def _async_poll_output_msg(self, parent_msg_id, cell, cell_index):
        await super()._async_poll_output_msg(parent_msg_id, cell, cell_index)
        while self.nb.metadata.kernelspec.name == "deno":
            try:
                msg = await ensure_async(self.kc.iopub_channel.get_msg(timeout=self.GRACE_SECONDS))
            except Exception:  # queue.Empty: nothing more came
                return
            if msg["parent_header"].get("msg_id") == parent_msg_id:
                try:
                    self.process_message(msg, cell, cell_index)
                except CellExecutionComplete:
                    pass


def notebook_of_cells(folder, kernel):
    """A notebook of one cell per file of `folder`, run from notebooks/ like the others. tslab imports the
    built package by name; the Deno kernel imports the source (as the tours do)."""
    notebook = nbformat.v4.new_notebook()
    notebook.metadata.kernelspec = KERNELS[kernel]
    notebook.metadata.language_info = {"name": "typescript"}
    directory = os.path.join(ROOT, folder)
    for name in sorted(os.listdir(directory)):
        with open(os.path.join(directory, name)) as f:
            source = f.read()
        if kernel == "deno":
            source = source.replace('from "nbmemo"', 'from "../lib/mod.ts"')
        notebook.cells.append(nbformat.v4.new_code_cell(source, id=os.path.splitext(name)[0]))
    return notebook


def in_kernel(notebook, kernel):
    """A notebook written for either kernel, run in `kernel`: the Deno kernel imports the source."""
    notebook.metadata.kernelspec = KERNELS[kernel]
    if kernel == "deno":
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.source = cell.source.replace('from "nbmemo"', 'from "../lib/mod.ts"')


def main(plan_path, out_dir, tslab_dir=NOTEBOOKS):
    out_dir = os.path.abspath(out_dir)
    with open(plan_path) as f:
        plan = json.load(f)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(os.path.join(out_dir, "caches"))
    # The notebooks must show what a user sees by default (notices at "info" in a kernel).
    os.environ.pop("NBMEMO_LOG", None)
    runs = []
    for step in plan:
        os.environ["NBMEMO_DIR"] = os.path.join(out_dir, "caches", step["cache"])
        if "cells" in step:
            notebook = notebook_of_cells(step["cells"], step["kernel"])
        else:
            notebook = nbformat.read(os.path.join(NOTEBOOKS, step["notebook"]), as_version=4)
            if "kernel" in step:
                in_kernel(notebook, step["kernel"])
        cwd = tslab_dir if notebook.metadata.kernelspec["name"] == "tslab" else NOTEBOOKS
        started = time.monotonic()
        error = None
        try:
            Client(notebook, timeout=300, resources={"metadata": {"path": cwd}}).execute()
        except Exception as e:  # recorded for the tests to report; the next runs still go ahead
            error = f"{type(e).__name__}: {e}"
        seconds = time.monotonic() - started
        nbformat.write(notebook, os.path.join(out_dir, step["run"] + ".ipynb"))
        runs.append({**step, "seconds": round(seconds, 3), "error": error})
        print(f"  {step['run']}: {step.get('notebook') or step['cells']} on cache {step['cache']}, {seconds:.1f} s"
              + (f", FAILED: {error.splitlines()[0]}" if error else ""), flush=True)
    with open(os.path.join(out_dir, "runs.json"), "w") as f:
        json.dump(runs, f, indent=1)
    return 1 if any(r["error"] for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
