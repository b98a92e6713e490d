"""`edgekit gate`: judge results against budgets; exit 0 pass, 1 a budget broken, 2 usage/config error
(calls ``edgekit.gate.api.gate``)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    app.command(
        "gate",
        help=(
            "Check variants against the budgets in edgekit.toml or pyproject.toml \\[tool.edgekit.budgets].\n\n"
            "Prints each check as PASS/FAIL with its value, limit and change vs --baseline. "
            "Exit 0: all pass; 1: a budget is broken; 2: usage or config error (named with its file:line).\n\n"
            "Example: edgekit gate out --baseline baseline.json --markdown gate.md --junit gate.xml\n\n"
            "Example (on main): edgekit gate out --baseline baseline.json --update-baseline"
        ),
        no_args_is_help=True,
    )(gate)


def gate(
    results: Path = typer.Argument(..., help="OUT dir from `edgekit optimize` (+ bench), OUT/variants, or a results JSON."),
    baseline: Optional[Path] = typer.Option(None, "--baseline", help="Results JSON to compare against (e.g. kept from main)."),
    config: Optional[Path] = typer.Option(None, "--config", help="Budgets file (default: ./edgekit.toml, else ./pyproject.toml)."),
    update_baseline: bool = typer.Option(False, "--update-baseline", help="Write these results to --baseline FILE (atomically) after checking."),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="Also write the checks as Markdown to FILE."),
    junit: Optional[Path] = typer.Option(None, "--junit", help="Also write the checks as JUnit XML to FILE."),
    json_out: bool = typer.Option(False, "--json", help="Print the checks as JSON (schema edgekit.gate/1) instead of text."),
) -> None:
    from edgekit.atomic import write_text
    from edgekit.errors import EdgekitError
    from edgekit.gate.api import gate as run
    from edgekit.gate.render import render_json, render_junit, render_markdown, render_text

    if update_baseline and baseline is None:
        raise EdgekitError("--update-baseline needs --baseline FILE", "e.g. edgekit gate out --baseline baseline.json --update-baseline")
    compare = baseline if baseline is not None and (baseline.exists() or not update_baseline) else None
    result = run(results, config, baseline=compare)
    for w in result.results.warnings:
        typer.echo(f"edgekit: warning: {w}", err=True)
    typer.echo(render_json(result) if json_out else render_text(result), nl=False)
    if markdown is not None:
        write_text(markdown, render_markdown(result))
    if junit is not None:
        write_text(junit, render_junit(result))
    if update_baseline:
        result.results.write(baseline)
        typer.echo(f"baseline updated: {baseline}", err=True)
    raise typer.Exit(result.exit_code)
