"""The device runtime bundle against the route before it (issue 13): same device, same variants.

For every variant of OUT (default: out/demo, what `make demo` wrote) the device script runs on the
emulated device twice per round, alternating — once through the pushed bundle (edgekit's own
Python, started by its loader: the phone route) and once through the device image's own
``/usr/bin/python3`` (the route edgekit took before the bundle; hidden from the shell's PATH now) —
with the evaluation set's first N examples. It prints, per variant, the median latency of each route
(qemu wall clock, "emulated"), their ratio, and whether the predictions are identical.

    .venv/bin/python benchmarks/runtime_route.py [--out out/demo] [--runs 30] [--rounds 3] [--eval-limit 200] [--only a,b]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="out/demo")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--eval-limit", type=int, default=200)
    ap.add_argument("--profile", default="armv7-lowend")
    ap.add_argument("--only", default="", help="comma-separated variant names (default: every variant)")
    a = ap.parse_args()

    from edgekit import emulator
    from edgekit.bench.device import Device, remote
    from edgekit.bench.runner import BATCH, MARK, SCRIPT
    from edgekit.bench.runtime import ensure
    from types import SimpleNamespace

    from edgekit.bench.evalset import resolve_eval_set
    from edgekit.bench.targets import resolve_targets
    from edgekit.emulator.control import free_port

    out = Path(a.out)
    variants = sorted(p.parent for p in (out / "variants").glob("*/model.tflite"))
    if a.only:
        variants = [v for v in variants if v.name in a.only.split(",")]
    if not variants:
        print(f"no variants in {out}/variants (run make demo first)", file=sys.stderr)
        return 2
    targets, _ = resolve_targets([str(out / "variants")])
    ev = resolve_eval_set(SimpleNamespace(accuracy="device", eval_data=None, eval_limit=a.eval_limit), out, targets)
    x = np.load(ev.x_path, allow_pickle=False)
    port = free_port()
    inst = emulator.start(a.profile, port=port, private=True)
    try:
        dev = Device(inst.serial)
        dev.describe()
        rt = ensure(dev)
        dev.mkdir(remote("models"), remote("eval"), remote("out"))
        dev.push(SCRIPT, remote("device_script.py"))
        dev.push(BATCH, remote("edgekit_batch.py"))
        with tempfile.TemporaryDirectory() as td:
            np.save(Path(td) / "x.npy", x)
            dev.push(Path(td) / "x.npy", remote("eval", "x.npy"))
            routes = {"bundle": rt.python_argv(), "system": ["/usr/bin/python3"]}
            rows = []
            for v in variants:
                model = remote("models", v.name + ".tflite")
                dev.push(v / "model.tflite", model)
                p50 = {k: [] for k in routes}
                preds = {}
                for _ in range(a.rounds):
                    for name, py in routes.items():
                        pred = remote("out", f"{name}.npy")
                        cmd = " ".join([*py, remote("device_script.py"), "--model", model, "--threads", "1",
                                        "--runs", str(a.runs), "--warmup", "3", "--eval-x", remote("eval", "x.npy"),
                                        "--pred-out", pred])
                        r = dev.shell(f"cd {remote()} && {cmd}", timeout=1800)
                        res = next((json.loads(ln[len(MARK):]) for ln in reversed(r.stdout.splitlines())
                                    if ln.startswith(MARK)), None)
                        if r.returncode != 0 or not res or res.get("status") != "ok":
                            print(f"{v.name} via {name}: failed: {r.output[-300:]}", file=sys.stderr)
                            return 1
                        p50[name].append(statistics.median(res["latencies_ms"]))
                        dev.pull(pred, Path(td) / f"{name}.npy")
                        preds[name] = np.load(Path(td) / f"{name}.npy")
                b, s = statistics.median(p50["bundle"]), statistics.median(p50["system"])
                rows.append((v.name, b, s, b / s, bool(np.array_equal(preds["bundle"], preds["system"])),
                             float((preds["bundle"].reshape(len(x), -1).argmax(-1) == preds["system"].reshape(len(x), -1).argmax(-1)).mean())))
                print(f"{v.name}: bundle p50 {b:.2f} ms, system {s:.2f} ms, ratio {b / s:.3f}, "
                      f"identical predictions {rows[-1][4]}", file=sys.stderr)
    finally:
        emulator.stop(port)
    t = Table(title=f"bundle vs the image's python3 on {a.profile} (emulated, qemu wall clock; median of "
                    f"{a.rounds} rounds x {a.runs} runs; {len(x)} evaluation examples)")
    for col in ("variant", "bundle p50 ms (emulated)", "system p50 ms (emulated)", "ratio", "predictions identical",
                "top-1 agreement"):
        t.add_column(col, justify="left" if col == "variant" else "right")
    for name, b, s, ratio, same, agree in rows:
        t.add_row(name, f"{b:.2f}", f"{s:.2f}", f"{ratio:.3f}", "yes" if same else "NO", f"{agree:.1%}")
    Console(width=140).print(t)
    ratios = [r[3] for r in rows]
    print(f"bundle {rt.sha256[:16]}: latency ratio bundle/system median {statistics.median(ratios):.3f}, "
          f"range {min(ratios):.3f}-{max(ratios):.3f}; predictions identical on {sum(r[4] for r in rows)}/{len(rows)}")
    return 0 if all(r[4] for r in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
