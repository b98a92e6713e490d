"""The `edgekit` command: a thin typer layer over the library API.

Each command lives in ``edgekit/commands/<name>.py`` and exposes ``register(app)``.
Heavy imports (TensorFlow, adbutils) happen inside the commands, so ``--help`` stays fast and works
in the core install (``pip install edgekit``). A command whose extra is not installed says so in one
line (``edgekit optimize needs the optimize extra: pip install 'edgekit[optimize]'``), exit 2.
"""

from __future__ import annotations

import errno
import importlib
import signal
import sys

import typer

from edgekit import stop
from edgekit._version import __version__
from edgekit.errors import EdgekitError
from edgekit.extras import require_extra

# One line per command module (each defines register(app: typer.Typer)) and the extra of
# pyproject.toml its commands need (None: the core install).
COMMAND_MODULES: dict[str, str | None] = {
    "edgekit.commands.optimize": "optimize",
    "edgekit.commands.bench": "bench",
    "edgekit.commands.report": None,
    "edgekit.commands.gate": None,
    "edgekit.commands.inspect": None,
    "edgekit.commands.emulator": "bench",
    "edgekit.commands.devices": "bench",
    "edgekit.commands.search": "search",
}

app = typer.Typer(
    name="edgekit",
    help="Get trained Keras models onto low-spec 32-bit ARM Android devices.\n\n"
    "Example: edgekit optimize --out out   (trains and optimises the built-in default)",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"edgekit {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Print the version and exit."),
) -> None:
    """edgekit: optimise -> bench -> report -> gate."""


def _command_name(info: typer.models.CommandInfo) -> str:
    return info.name or info.callback.__name__.replace("_", "-")


def _register(module: str, extra: str | None) -> None:
    """Register ``module``'s commands; those needing ``extra`` check for it when they run (not for --help)."""
    n_commands, n_groups = len(app.registered_commands), len(app.registered_groups)
    importlib.import_module(module).register(app)
    if extra is None:
        return
    for info in app.registered_commands[n_commands:]:
        info.callback = require_extra(extra, f"edgekit {_command_name(info)}", info.callback)
    for group in app.registered_groups[n_groups:]:
        for info in group.typer_instance.registered_commands:
            info.callback = require_extra(extra, f"edgekit {group.name} {_command_name(info)}", info.callback)


for _module, _extra in COMMAND_MODULES.items():
    _register(_module, _extra)


def error_line(message: str) -> None:
    """Print a one-line error to stderr (no traceback)."""
    sys.stderr.write(f"edgekit: error: {message}\n")
    sys.stderr.flush()


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, ``kill``): the same clean stop as Ctrl-C."""


def _stop(signum: int, frame: object) -> None:
    exc = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
    stop.request(exc)   # kept: the interrupt may be swallowed or turned into another error on its way up
    raise exc


def main(argv: list[str] | None = None) -> int:
    old_hook = stop.install()   # before the handlers: a signal from here on is kept
    old: dict = {}
    try:
        try:
            for sig in (signal.SIGTERM, signal.SIGINT):
                old[sig] = signal.signal(sig, _stop)
        except ValueError:  # not the main thread: leave signals alone
            pass
        try:
            rc = _main(argv)
        except Exception:
            if stop.requested() is None:
                raise
            rc = 1
        # a stop not yet reported: swallowed (in a __del__), turned into another error (tf_stack's "Concurrent
        # access?"), or caught by typer (>= 0.29 returns 130 for it): the one stop line and exit 143 / 130
        exc = stop.requested()
        return _interrupted(exc) if exc is not None else rc
    except KeyboardInterrupt as exc:   # outside the command: while installing the handlers
        return _interrupted(exc)
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        stop.restore(old_hook)


def _interrupted(exc: KeyboardInterrupt) -> int:
    stop.clear()   # said once
    what = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
    error_line(f"{what} — results finished so far are saved; re-run (bench: with --resume) to continue")
    return 143 if isinstance(exc, Terminated) else 130


def _main(argv: list[str] | None) -> int:
    try:
        # standalone_mode=False makes click *return* the code of typer.Exit(code) (e.g. gate's 1)
        rc = app(args=argv, standalone_mode=False)
    except EdgekitError as exc:
        if stop.requested() is None:   # else an interrupt that became this error: main says it was stopped
            error_line(exc.one_line())
        return exc.exit_code
    except KeyboardInterrupt as exc:
        return _interrupted(exc)
    except OSError as exc:
        if stop.requested() is not None:
            return 1
        if exc.errno == errno.ENOSPC:
            error_line(f"no space left on device writing {exc.filename or 'output'} — free disk space or choose another --out")
            return 2
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            error_line(f"cannot write {exc.filename}: {exc.strerror} — choose a writable --out")
            return 2
        raise
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort as exc:  # click turns Ctrl-C (and our SIGTERM) into Abort
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, KeyboardInterrupt):
            return _interrupted(cause)
        error_line("aborted")
        return 130
    except Exception as exc:  # click usage errors (typer >= 0.29 bundles click as typer._click)
        try:
            from typer._click import exceptions as click_exceptions
        except ImportError:  # older typer: the click package
            from click import exceptions as click_exceptions

        if type(exc).__name__ == "NoArgsIsHelpError":
            return 0  # the help text has been printed
        if isinstance(exc, click_exceptions.ClickException):
            exc.show()
            return exc.exit_code
        exit_type = getattr(click_exceptions, "Exit", None)  # not in every click/typer version
        if exit_type is not None and isinstance(exc, exit_type):
            return exc.exit_code
        raise  # a bug in edgekit, not bad input: keep the traceback
    return rc if isinstance(rc, int) else 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
