"""Mutate .tflite files and classify what edgekit's reader, inspect and runner make of them.

Shared by ``benchmarks/fuzz.py`` (thousands of files, both cores, a device sample) and the quick
seeded test in ``make test`` (tests/tflite/test_fuzz_quick.py). Every file is reproducible from
``(seed, index)``: ``case(seeds, seed, index)`` rebuilds the same bytes and mutation.

Mutations (:data:`KINDS`), aimed at the flatbuffer's structure found by walking the valid seed:
``bitflip`` (1-8 bits), ``truncate``, ``offset`` (a table's field word = a uoffset to a vector,
table or string, or a scalar, overwritten), ``vtable`` (a table's soffset or a vtable entry),
``huge`` (a vector or string length set to a huge value), ``swap`` (two entries of the buffers
vector point at each other's buffer), ``random`` (a span of random bytes), and ``combo`` (2-3 of
these in a row).

Outcomes per stage (:data:`OUTCOMES`): ``ok``; ``error`` = one-line EdgekitError; ``failed`` = the
interpreter child reported a reason (load/allocate/invoke failure, native crash or timeout *of the
child*); ``crash`` = a harness crash: any other exception, a traceback or multi-line message, a
hang past the timeout, or a native crash of the process running edgekit's own code.
"""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

KINDS = ("bitflip", "truncate", "offset", "vtable", "huge", "value", "swap", "random", "combo")
OUTCOMES = ("ok", "error", "failed", "crash")
_HUGE = (0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, 0x3FFFFFFF, 0x10000000, 0xFFFFFFF0)


@dataclass
class Seed:
    """A valid seed file and where its structure lives (byte positions)."""

    name: str
    data: bytes
    fields: list[int] = field(default_factory=list)    # 4-byte field words of the tables walked
    tables: list[int] = field(default_factory=list)    # table starts (their soffset to the vtable)
    vtables: list[int] = field(default_factory=list)   # vtable starts
    lengths: list[int] = field(default_factory=list)   # length words of vectors and strings
    elements: list[int] = field(default_factory=list)  # 4-byte words inside short vectors (shapes, indices, ...)
    buffers_vec: tuple[int, int] | None = None         # (first entry, count) of Model.buffers


@dataclass
class Outcome:
    stage: str
    outcome: str      # one of OUTCOMES
    detail: str = ""  # the error line, the child's reason, or the traceback of a crash


def _u32(data: bytes, pos: int) -> int:
    return struct.unpack_from("<I", data, pos)[0]


def analyse(name: str, data: bytes) -> Seed:
    """Walk a valid seed with the (unchecked) generated classes and note where its fields are."""
    from tflite.Model import Model

    seed = Seed(name, bytes(data))
    n = len(data)

    def table(tab) -> None:
        pos = tab.Pos
        vt = pos - struct.unpack_from("<i", data, pos)[0]
        if not (0 <= vt < n - 4 and 0 <= pos < n):
            return
        seed.tables.append(pos)
        seed.vtables.append(vt)
        vt_size = struct.unpack_from("<H", data, vt)[0]
        for slot in range(4, vt_size, 2):
            off = struct.unpack_from("<H", data, vt + slot)[0]
            f = pos + off
            if off and f + 4 <= n:
                seed.fields.append(f)
                target = f + _u32(data, f)
                if target + 4 <= n and _u32(data, target) <= n - target - 4:
                    seed.lengths.append(target)  # a uoffset to something length-prefixed (or a plausible one)
                    count = _u32(data, target)
                    if count <= 64 and target + 4 + 4 * count <= n:
                        seed.elements.extend(target + 4 + 4 * k for k in range(count))

    m = Model.GetRootAsModel(data, 0)
    table(m._tab)
    for i in range(m.OperatorCodesLength()):
        table(m.OperatorCodes(i)._tab)
    for i in range(m.BuffersLength()):
        table(m.Buffers(i)._tab)
    for s in range(m.SubgraphsLength()):
        sg = m.Subgraphs(s)
        table(sg._tab)
        for j in range(sg.TensorsLength()):
            t = sg.Tensors(j)
            table(t._tab)
            if t.Quantization() is not None:
                table(t.Quantization()._tab)
        for j in range(sg.OperatorsLength()):
            table(sg.Operators(j)._tab)
    o = m._tab.Offset(12)  # Model.buffers
    if o:
        seed.buffers_vec = (m._tab.Vector(o), m._tab.VectorLen(o))
    return seed


def _put32(buf: bytearray, pos: int, value: int) -> None:
    if 0 <= pos <= len(buf) - 4:
        struct.pack_into("<I", buf, pos, value & 0xFFFFFFFF)


def _word(rng: np.random.Generator, n: int) -> int:
    choice = int(rng.integers(5))
    if choice == 0:
        return int(rng.integers(0, 2**32, dtype=np.uint64))
    if choice == 1:
        return int(rng.integers(0, 16))
    if choice == 2:
        return n + int(rng.integers(-8, 9))
    if choice == 3:
        return int(rng.choice(_HUGE))
    return int(rng.integers(0, max(n, 1)))


def _pick(rng: np.random.Generator, items: list[int], n: int) -> int:
    return int(rng.choice(items)) if items else int(rng.integers(0, max(n - 4, 1)))


def _one(kind: str, seed: Seed, buf: bytearray, rng: np.random.Generator) -> tuple[bytearray, str]:
    n = len(buf)
    if n < 8 and kind not in ("random", "truncate"):
        kind = "random"
    if kind == "bitflip":
        bits = rng.integers(0, n * 8, size=int(rng.integers(1, 9)))
        for b in bits:
            buf[int(b) // 8] ^= 1 << (int(b) % 8)
        return buf, f"bitflip@{','.join(str(int(b)) for b in bits)}"
    if kind == "truncate":
        cut = int(rng.integers(0, max(n, 1)))
        return buf[:cut], f"truncate@{cut}"
    if kind == "offset":
        pos, value = _pick(rng, seed.fields, n), _word(rng, n)
        _put32(buf, pos, value)
        return buf, f"offset@{pos}={value:#x}"
    if kind == "vtable":
        if rng.random() < 0.5:
            pos, value = _pick(rng, seed.tables, n), int(rng.integers(-2**31, 2**31)) if rng.random() < 0.5 else int(rng.integers(-64, 64))
            _put32(buf, pos, value)
            return buf, f"vtable-soffset@{pos}={value}"
        vt = _pick(rng, seed.vtables, n)
        pos = min(vt + 2 * int(rng.integers(0, 8)), n - 2)
        value = int(rng.choice([0, 1, 3, 0xFFFF, int(rng.integers(0, 0x10000))]))
        struct.pack_into("<H", buf, pos, value)
        return buf, f"vtable-entry@{pos}={value}"
    if kind == "huge":
        pos, value = _pick(rng, seed.lengths, n), int(rng.choice(_HUGE))
        _put32(buf, pos, value)
        return buf, f"huge@{pos}={value:#x}"
    if kind == "value":
        pos = _pick(rng, seed.elements, n)
        value = int(rng.choice([-1, -2, 0, 2**31 - 1, -2**31, 1 << 20, int(rng.integers(-300, 300))]))
        _put32(buf, pos, value)
        return buf, f"value@{pos}={value}"
    if kind == "swap" and seed.buffers_vec and seed.buffers_vec[1] >= 2:
        first, count = seed.buffers_vec
        i, j = (int(v) for v in rng.choice(count, size=2, replace=False))
        pi, pj = first + 4 * i, first + 4 * j
        if pj + 4 <= n and pi + 4 <= n:
            ti, tj = pi + _u32(bytes(buf), pi), pj + _u32(bytes(buf), pj)
            _put32(buf, pi, tj - pi)
            _put32(buf, pj, ti - pj)
        return buf, f"swap-buffers@{i},{j}"
    start = int(rng.integers(0, max(n, 1)))
    length = int(rng.integers(1, 65))
    junk = rng.integers(0, 256, size=length, dtype=np.uint8).tobytes()
    buf[start:start + length] = junk[: max(0, min(length, n - start))] if n else junk
    return buf, f"random@{start}+{length}"


def mutate(seed: Seed, rng: np.random.Generator) -> tuple[bytes, str]:
    """One mutated copy of ``seed.data`` and a description of the mutation (replayable via the rng)."""
    kind = str(rng.choice(KINDS))
    buf = bytearray(seed.data)
    if kind != "combo":
        buf, what = _one(kind, seed, buf, rng)
        return bytes(buf), what
    steps = []
    for k in rng.choice(KINDS[:-1], size=int(rng.integers(2, 4))):
        buf, what = _one(str(k), seed, buf, rng)
        steps.append(what)
    return bytes(buf), "combo:" + "+".join(steps)


def case(seeds: list[Seed], seed: int, index: int) -> tuple[bytes, str]:
    """File ``index`` of run ``seed``: (bytes, "<seed file>:<mutation>")."""
    rng = np.random.default_rng([seed, index])
    s = seeds[int(rng.integers(len(seeds)))]
    data, what = mutate(s, rng)
    return data, f"{s.name}:{what}"


class _Hang(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only on a hang
    raise _Hang()


def _guarded(stage: str, fn, timeout: float) -> Outcome:
    """Run ``fn`` in this process; EdgekitError -> error (one line), anything else -> crash."""
    from edgekit.errors import EdgekitError

    use_alarm = hasattr(signal, "SIGALRM") and _main_thread()
    if use_alarm:  # a timer someone else armed (e.g. a test timeout) is put back afterwards
        old = signal.signal(signal.SIGALRM, _alarm)
        started = time.monotonic()
        old_timer = signal.setitimer(signal.ITIMER_REAL, timeout)[0]
    try:
        return fn()
    except _Hang:
        return Outcome(stage, "crash", f"hang: no answer within {timeout:g} s")
    except EdgekitError as exc:
        line = exc.one_line()
        if not line or "Traceback" in exc.message or "\n" in exc.message.strip():
            return Outcome(stage, "crash", f"bad error message: {exc.message!r}")
        return Outcome(stage, "error", line)
    except BaseException:  # noqa: BLE001 - every other exception is exactly what the fuzzer hunts
        return Outcome(stage, "crash", traceback.format_exc())
    finally:
        if use_alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, old)
            if old_timer > 0:
                signal.setitimer(signal.ITIMER_REAL, max(old_timer - (time.monotonic() - started), 0.001))


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def inspect_stage(path: Path, timeout: float = 20) -> Outcome:
    """``edgekit inspect`` logic in this process: read_model_info, weight_stats, describe (no runtime)."""
    from edgekit.tflite.describe import describe, problem
    from edgekit.tflite.inspect import read_model_info, weight_stats

    def run() -> Outcome:
        data = path.read_bytes()
        why = problem(path)   # the CLI's first check; it also reads metadata/signatures, which
        if why is not None:   # read_model_info skips on purpose (model.extras), so no cross-check
            if not why.strip() or "\n" in why.strip():
                return Outcome("inspect", "crash", f"bad problem() text: {why!r}")
        json.dumps(read_model_info(data))  # EdgekitError -> "error" (one line); anything else -> "crash"
        json.dumps(weight_stats(data))
        json.dumps(describe(path, check_runtime=False))
        return Outcome("inspect", "ok")

    return _guarded("inspect", run, timeout)


def _sample_input(info: dict) -> np.ndarray | None:
    """Two zero inputs of the model's input shape; None when there is no single input of a sane size."""
    if len(info["inputs"]) != 1:
        return None
    t = info["inputs"][0]
    shape = [int(d) for d in t["shape"][1:]]
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.float64)) > 1 << 20:
        return None
    dtype = {"float32": np.float32, "int8": np.int8, "uint8": np.uint8}.get(t["dtype"], np.float32)
    return np.zeros((2, *shape), dtype=dtype)


def child_stage(path: Path, timeout: float = 30) -> Outcome:
    """The host load/eval child: check_loadable, then predict on two zero inputs when it loads."""
    from edgekit.tflite.inspect import read_model_info
    from edgekit.tflite.runner import InterpreterFailure, check_loadable, predict

    def run() -> Outcome:
        ok, reason = check_loadable(path, timeout=timeout)
        if not ok:
            if not reason or "Traceback" in reason:
                return Outcome("child", "crash", f"bad reason: {reason!r}")
            try:
                read_model_info(path)
            except Exception:
                return Outcome("child", "error", " ".join(reason.split()))
            return Outcome("child", "failed", " ".join(reason.split()))
        x = _sample_input(read_model_info(path))
        if x is None:
            return Outcome("child", "ok", "loads; no single input of a sane size to predict on")
        try:
            predict(path, x, timeout=timeout)
        except InterpreterFailure as exc:
            return Outcome("child", "failed", exc.one_line())
        return Outcome("child", "ok")

    return _guarded("child", run, 3 * timeout + 10)


def cli_stage(path: Path, timeout: float = 120) -> Outcome:
    """``edgekit inspect FILE --json`` in a subprocess: exit 0 + JSON, or exit 2 + one "edgekit: error:" line."""
    cmd = [sys.executable, "-m", "edgekit", "inspect", str(path), "--json"]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", COLUMNS="200")
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, env=env)
    except subprocess.TimeoutExpired:
        return Outcome("cli", "crash", f"hang: edgekit inspect took over {timeout:g} s")
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    if r.returncode == 0:
        try:
            doc = json.loads(r.stdout)
            rt = doc["models"][0].get("runtime") or {}
        except (ValueError, KeyError, IndexError):
            return Outcome("cli", "crash", f"exit 0 without the JSON report: {r.stdout[:300]!r}")
        if rt.get("status") not in (None, "ok"):
            return Outcome("cli", "failed", f"runtime {rt.get('status')}: {' '.join(str(rt.get('reason')).split())}")
        return Outcome("cli", "ok")
    if r.returncode == 2 and len(lines) == 1 and lines[0].startswith("edgekit: error:") and "Traceback" not in r.stderr:
        return Outcome("cli", "error", lines[0])
    return Outcome("cli", "crash", f"exit {r.returncode}, stderr: {r.stderr[-1500:]}")


def run_file(data: bytes, path: Path, child: bool, cli: bool) -> list[Outcome]:
    """Write ``data`` to ``path`` and push it through the stages asked for."""
    path.write_bytes(data)
    out = [inspect_stage(path)]
    if child:
        out.append(child_stage(path))
    if cli:
        out.append(cli_stage(path))
    return out
