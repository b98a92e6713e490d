"""`edgekit inspect`: look inside .tflite files — ops, tensors, MACs, sizes, weights, device-runtime load check
(calls :func:`edgekit.tflite.describe.describe`; fields in docs/inspect.md)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

HELP = """Describe .tflite files: ops with versions, counts and MACs, input/output tensors (shape, dtype,
quantisation), parameter count, raw and gzip size, sparsity, distinct weight values per channel,
metadata, and whether the device runtime (tflite-runtime 2.14) loads it, with its reason.

A truncated or malformed file gets one line (`truncated: 31,053 of at least 93,160 bytes`) and exit 2.
A folder stands for the .tflite files under it (e.g. OUT/variants).

Examples:

  edgekit inspect out/variants/int8/model.tflite

  edgekit inspect out/variants --json > inspect.json
"""


def register(app: typer.Typer) -> None:
    app.command("inspect", help=HELP, no_args_is_help=True)(inspect)


def _files(paths: list[Path]) -> list[Path]:
    from edgekit.errors import EdgekitError

    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.rglob("*.tflite"))
            if not found:
                raise EdgekitError(f"{p} holds no .tflite files", "pass .tflite files or a folder holding them")
            out.extend(found)
        else:
            out.append(p)
    return out


def _text(r: dict[str, Any]) -> str:
    from edgekit.metrics import fmt_size

    def io(t: dict[str, Any]) -> str:
        q = t["quantization"]
        qs = "" if not q else (f" q(scale {q['scale']:.4g}, zero {q['zero_point']})" if not isinstance(q["scale"], list)
                               else f" q(per channel ×{len(q['scale'])})")
        return f"{t['name']} {t['dtype']}[{','.join(str(d) for d in t['shape_signature'])}]{qs}"

    rt = r["runtime"]
    lines = [f"{r['path']}",
             f"  size        {fmt_size(r['size_bytes'])} (gzip {fmt_size(r['gzip_size_bytes'])})",
             f"  parameters  {r['param_count']:,} ({', '.join(r['weight_dtypes']) or 'no'} weights; "
             f"sparsity {r['sparsity']['overall']:.1%})",
             f"  MACs        {r['macs']:,}"]
    lines += [f"  input       {io(t)}" for t in r["inputs"]]
    lines += [f"  output      {io(t)}" for t in r["outputs"]]
    lines.append("  ops         " + ", ".join(f"{o['op']} v{o['version']} ×{o['count']}" + (f" ({o['macs']:,} MACs)" if o["macs"] else "")
                                           for o in r["ops"]))
    if r["unique_weights"]:
        most = max(u["max"] for u in r["unique_weights"].values())
        lines.append(f"  weights     {len(r['unique_weights'])} tensors; distinct values per channel ≤ {most:,}")
    md = r["metadata"]
    lines.append(f"  metadata    {', '.join(md['names']) if md['present'] else 'none'}"
                 f"{'' if md['tflite_metadata'] else ' (no TFLite Metadata)'}")
    if rt is not None:
        lines.append(f"  runtime     {rt['runtime']}: {rt['status']}" + (f" — {' '.join(rt['reason'].split())}" if rt["reason"] else ""))
    return "\n".join(lines)


def inspect(
    files: list[Path] = typer.Argument(..., help=".tflite files (or folders holding them)."),
    json_out: bool = typer.Option(False, "--json", help="Print the reports as JSON (schema edgekit.inspect/1, docs/inspect.md)."),
    no_runtime: bool = typer.Option(False, "--no-runtime-check", help="Skip the load check in tflite-runtime 2.14."),
) -> None:
    from edgekit.cli import error_line
    from edgekit.errors import EdgekitError
    from edgekit.tflite.describe import describe, problem

    reports: list[dict[str, Any]] = []
    bad = 0
    for f in _files(files):
        why = problem(f)
        if why is not None:
            bad += 1
            error_line(f"{f}: {why}" if str(f) not in why else why)
            reports.append({"path": str(f), "error": why})
            continue
        try:
            reports.append(describe(f, check_runtime=not no_runtime))
        except EdgekitError as exc:   # something the structural check let through (a corrupt weight tensor)
            bad += 1
            error_line(exc.one_line())
            reports.append({"path": str(f), "error": exc.message})
    if json_out:
        json.dump({"schema": "edgekit.inspect/1", "models": reports}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        good = [_text(r) for r in reports if "error" not in r]
        if good:
            typer.echo("\n\n".join(good))
    raise typer.Exit(2 if bad else 0)
