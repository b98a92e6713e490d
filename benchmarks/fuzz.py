#!/usr/bin/env python3
"""Fuzz edgekit's .tflite reader, `edgekit inspect`, the host interpreter child and the device load.

Seeded mutations of seed .tflite files (bit flips, truncation, overwritten flatbuffer offsets and
vtable entries, huge declared lengths, swapped buffers, random bytes, combinations; see
edgekit/tflite/fuzz.py). Each file goes through

  inspect  read_model_info, weight_stats, describe in process (every file)
  child    check_loadable + predict on two zero inputs, the tflite-runtime child (every file)
  cli      `edgekit inspect FILE --json` in a subprocess (--cli-sample files)
  device   `ek.bench` on the emulated armv7-lowend device, runs 1, warmup 0 (--device-sample files)

and ends ok / one-line error / failed (the child's or device's reason) / harness crash. Two worker
processes share the inspect and child stages; a worker that dies natively is a harness crash of
the file it held. Prints a table of counts per stage and outcome, files/min, and every crash with
its seed:index; `--replay SEED:INDEX` re-runs one file, `--keep DIR` keeps every crashing file.

Usage: python benchmarks/fuzz.py [--files 1000] [--seed 0] [--seeds DIR|FILE...] [--workers 2]
                                 [--cli-sample 30] [--device-sample 20] [--keep DIR] [--replay S:I]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from edgekit.tflite import fuzz  # noqa: E402

_SEEDS: list[fuzz.Seed] = []
_WORK: Path | None = None


def seed_files(args_seeds: list[str] | None) -> list[Path]:
    if not args_seeds:
        from _tiny_tflite import NAMES, tiny_models

        d = tiny_models(Path(tempfile.gettempdir()) / "edgekit-fuzz-seeds")
        return [d / f"{n}.tflite" for n in NAMES]
    out: list[Path] = []
    for s in args_seeds:
        p = Path(s)
        out.extend(sorted(p.rglob("*.tflite")) if p.is_dir() else [p])
    return out


def _init(seeds: list[tuple[str, bytes]]) -> None:
    global _SEEDS, _WORK
    _SEEDS = [fuzz.analyse(n, d) for n, d in seeds]
    _WORK = Path(tempfile.mkdtemp(prefix="edgekit-fuzz-"))


def _task(job: tuple[int, int, bool]) -> tuple[int, str, list[tuple[str, str, str]]]:
    seed, index, cli = job
    data, what = fuzz.case(_SEEDS, seed, index)
    path = _WORK / f"fuzz-{seed}-{index}.tflite"
    try:
        outs = fuzz.run_file(data, path, child=True, cli=cli)
    finally:
        path.unlink(missing_ok=True)
    return index, what, [(o.stage, o.outcome, o.detail) for o in outs]


def run_pool(seeds, seed: int, n: int, workers: int, cli_every: int, progress) -> list[tuple[int, str, list]]:
    results: list[tuple[int, str, list]] = []
    pending = list(range(n))
    chunk = max(8, workers * 8)
    ex = ProcessPoolExecutor(workers, initializer=_init, initargs=(seeds,))
    try:
        while pending:
            batch, pending = pending[:chunk], pending[chunk:]
            futs = {i: ex.submit(_task, (seed, i, cli_every > 0 and i % cli_every == 0)) for i in batch}
            for i, f in futs.items():
                try:
                    results.append(f.result(timeout=600))
                except BrokenProcessPool:
                    # a worker died natively: re-run each unfinished file of the batch alone to find it
                    ex.shutdown(cancel_futures=True)
                    for j in [k for k in batch if k not in {r[0] for r in results}]:
                        one = ProcessPoolExecutor(1, initializer=_init, initargs=(seeds,))
                        try:
                            results.append(one.submit(_task, (seed, j, False)).result(timeout=600))
                        except BrokenProcessPool:
                            data, what = fuzz.case(_init_local(seeds), seed, j)
                            results.append((j, what, [("inspect", "crash", "native crash of the process running edgekit's reader")]))
                        finally:
                            one.shutdown()
                    ex = ProcessPoolExecutor(workers, initializer=_init, initargs=(seeds,))
                    break
            progress(len(results), n)
    finally:
        ex.shutdown()
    return sorted(results)


def _init_local(seeds):
    return [fuzz.analyse(nm, d) for nm, d in seeds]


def device_stage(files: list[Path], profile: str) -> dict[str, tuple[str, str]]:
    """ek.bench over the sample on the emulated device: {file stem: (outcome, detail)}."""
    import traceback

    from edgekit.bench.api import bench
    from edgekit.bench.params import BenchParams
    from edgekit.errors import EdgekitError

    out_dir = Path(tempfile.mkdtemp(prefix="edgekit-fuzz-bench-"))
    try:
        ms = bench(files, emulator=profile, params=BenchParams(runs=1, warmup=0, threads=1, count=False), out=out_dir)
    except EdgekitError as exc:
        return {f.stem: ("error", exc.one_line()) for f in files}
    except BaseException:  # noqa: BLE001 - the sweep itself crashed
        tb = traceback.format_exc()
        return {f.stem: ("crash", tb) for f in files}
    res: dict[str, tuple[str, str]] = {}
    for m in ms:
        if m.status == "ok":
            res[m.variant] = ("ok", "")
        elif m.status in ("failed", "incompatible", "oom") and m.reason and "Traceback" not in m.reason:
            res[m.variant] = ("failed", f"{m.status}: {' '.join(m.reason.split())}")
        else:
            res[m.variant] = ("crash", f"status {m.status!r}, reason {m.reason!r}")
    for f in files:
        res.setdefault(f.stem, ("crash", "no measurement for this file"))
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seeds", nargs="*", help="seed .tflite files or folders (default: tests/_tiny_tflite.py's models)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--cli-sample", type=int, default=30, help="files also run through `edgekit inspect --json`")
    ap.add_argument("--device-sample", type=int, default=20, help="files measured on the emulated device (0: none)")
    ap.add_argument("--profile", default="armv7-lowend")
    ap.add_argument("--keep", type=Path, help="write every crashing file here")
    ap.add_argument("--replay", help="SEED:INDEX — run one file and print every stage's outcome")
    args = ap.parse_args()

    from rich.console import Console
    from rich.table import Table

    con = Console()
    seeds = [(p.stem, p.read_bytes()) for p in seed_files(args.seeds)]
    if args.replay:
        s, i = (int(v) for v in args.replay.split(":"))
        _init(seeds)
        idx, what, outs = _task((s, i, True))
        con.print(f"{s}:{i}  {what}")
        for stage, outcome, detail in outs:
            con.print(f"  {stage:8} {outcome:7} {detail}", markup=False, highlight=False)
        return 1 if any(o == "crash" for _, o, _ in outs) else 0

    cli_every = max(1, args.files // args.cli_sample) if args.cli_sample else 0
    t0 = time.monotonic()
    last = [0.0]

    def progress(done: int, n: int) -> None:
        if time.monotonic() - last[0] > 15 or done == n:
            last[0] = time.monotonic()
            con.print(f"  {done}/{n} files, {time.monotonic() - t0:.0f} s", highlight=False)

    results = run_pool(seeds, args.seed, args.files, args.workers, cli_every, progress)
    pool_s = time.monotonic() - t0
    counts: Counter[tuple[str, str]] = Counter()
    crashes: list[tuple[int, str, str, str]] = []
    for index, what, outs in results:
        for stage, outcome, detail in outs:
            counts[(stage, outcome)] += 1
            if outcome == "crash":
                crashes.append((index, what, stage, detail))

    dev_s = 0.0
    if args.device_sample:
        # half files the reader accepts (they reach the device), half it refuses (the pre-check's reason)
        good = [r for r in results if r[2][0][1] == "ok"]
        bad = [r for r in results if r[2][0][1] != "ok"]
        k = args.device_sample
        pick = good[: k - min(k // 2, len(bad))] + bad[: k // 2]
        ddir = Path(tempfile.mkdtemp(prefix="edgekit-fuzz-dev-"))
        files = []
        by_stem = {}
        for index, what, _ in pick:
            p = ddir / f"fuzz-{args.seed}-{index}.tflite"
            p.write_bytes(fuzz.case(_init_local(seeds), args.seed, index)[0])
            files.append(p)
            by_stem[p.stem] = (index, what)
        t1 = time.monotonic()
        con.print(f"  device stage: {len(files)} files on the emulated {args.profile}", highlight=False)
        for stem, (outcome, detail) in device_stage(files, args.profile).items():
            counts[("device", outcome)] += 1
            if outcome == "crash" and stem in by_stem:
                crashes.append((*by_stem[stem], "device", detail))
        dev_s = time.monotonic() - t1

    table = Table(title=f"edgekit fuzz: {args.files} files, seed {args.seed}, {len(seeds)} seed models")
    table.add_column("stage")
    for o in fuzz.OUTCOMES:
        table.add_column(o, justify="right")
    table.add_column("files", justify="right")
    for stage in ("inspect", "child", "cli", "device"):
        row = [counts[(stage, o)] for o in fuzz.OUTCOMES]
        if sum(row):
            table.add_row(stage, *(str(v) for v in row), str(sum(row)))
    con.print(table)
    rate = args.files / pool_s * 60
    con.print(f"inspect + child stages: {args.files} files in {pool_s:.1f} s on {args.workers} workers = "
              f"{rate:,.0f} files/min (10000 files: {10000 / rate:.1f} min)", highlight=False)
    if args.device_sample:
        con.print(f"device stage: {sum(counts[('device', o)] for o in fuzz.OUTCOMES)} files in {dev_s:.1f} s (emulated)", highlight=False)
    con.print(f"harness crashes: {len(crashes)}", highlight=False)
    if args.keep and crashes:
        args.keep.mkdir(parents=True, exist_ok=True)
    local = _init_local(seeds) if crashes else []
    for index, what, stage, detail in crashes:
        con.print(f"  CRASH {args.seed}:{index} [{stage}] {what}\n    {detail.strip().splitlines()[-1] if detail.strip() else ''}",
                  markup=False, highlight=False)
        if args.keep:
            (args.keep / f"crash-{args.seed}-{index}.tflite").write_bytes(fuzz.case(local, args.seed, index)[0])
    return 1 if crashes else 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())
