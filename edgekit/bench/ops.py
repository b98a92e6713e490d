"""Per-op counted marks: a model cut into single-operator models, each counted on the emulated device.

A TFLite interpreter runs a graph's operators in their stored order, and the Python runtime offers no
hook between two of them, so the counted route cannot mark inside one ``invoke``. Instead
:func:`split` writes one ``.tflite`` per operator of the main subgraph: the same operator, options,
constant tensors and quantisation, its non-constant inputs made the graph inputs and its outputs the
graph outputs. The device script (``--op-models``) loads each, fills the inputs with random values of
the right dtype and shape, and counts a second invoke between marks 7 k / 8 k (the first may prepack
weights). The instructions per op are therefore *measured* per op, in isolation: the sum over the ops
is close to, but not exactly, the whole model's invoke (each op's own invoke overhead, and cache
state does not enter instruction counts anyway); :func:`summarise` reports both.

Needs TensorFlow's flatbuffer schema module (``tensorflow/lite/python/schema_py_generated.py``, read
by path: TensorFlow itself is not imported). Without it (a bench-only install) per-op counts are
skipped with a warning.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

from edgekit.errors import EdgekitError

TAG_OP_BEGIN, TAG_OP_END = 7, 8
MAX_OPS = 400
_SCHEMA: Any = None


def schema() -> Any:
    """TensorFlow's generated flatbuffer schema (object API), loaded by file path; None when absent."""
    global _SCHEMA
    if _SCHEMA is not None:
        return _SCHEMA
    spec = importlib.util.find_spec("tensorflow")
    if spec is None or not spec.submodule_search_locations:
        return None
    for base in spec.submodule_search_locations:
        path = Path(base) / "lite" / "python" / "schema_py_generated.py"
        if path.is_file():
            s = importlib.util.spec_from_file_location("_edgekit_tflite_schema", path)
            mod = importlib.util.module_from_spec(s)  # type: ignore[arg-type]
            sys.modules.setdefault("_edgekit_tflite_schema", mod)
            s.loader.exec_module(mod)  # type: ignore[union-attr]
            _SCHEMA = mod
            return mod
    return None


def _op_name(model: Any, op: Any) -> str:
    from edgekit.tflite.names import builtin_op_name

    oc = model.operatorCodes[op.opcodeIndex]
    code = max(int(getattr(oc, "builtinCode", 0) or 0), int(getattr(oc, "deprecatedBuiltinCode", 0) or 0))
    if code == 32 and oc.customCode:   # CUSTOM
        return oc.customCode.decode() if isinstance(oc.customCode, bytes) else str(oc.customCode)
    return builtin_op_name(code)


def split(tflite_path: str | Path, out_dir: str | Path) -> list[dict[str, Any]]:
    """Write ``out_dir/op<k>.tflite`` for every operator of subgraph 0; returns
    ``[{"index": k, "op": "CONV_2D", "path": Path}, ...]`` in execution order. EdgekitError when the
    schema module is missing or the model has more than one subgraph (control flow)."""
    import flatbuffers

    sch = schema()
    if sch is None:
        raise EdgekitError("per-op counts need TensorFlow's flatbuffer schema (tensorflow is not installed)",
                           hint="pip install 'edgekit[optimize]' on the host, or read the whole-model estimate only")
    data = Path(tflite_path).read_bytes()
    probe = sch.ModelT.InitFromObj(sch.Model.GetRootAsModel(data, 0))
    if len(probe.subgraphs or []) != 1:
        raise EdgekitError(f"{Path(tflite_path).name}: {len(probe.subgraphs or [])} subgraphs; per-op counts cover single-graph models")
    n_ops = len(probe.subgraphs[0].operators or [])
    if n_ops > MAX_OPS:
        raise EdgekitError(f"{Path(tflite_path).name}: {n_ops} operators (per-op counts stop at {MAX_OPS})")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    result = []
    for k in range(n_ops):
        m = sch.ModelT.InitFromObj(sch.Model.GetRootAsModel(data, 0))  # a fresh copy per op
        sg = m.subgraphs[0]
        op = sg.operators[k]
        used = [i for i in list(op.inputs if op.inputs is not None else []) if i >= 0]
        outs = [int(i) for i in (op.outputs if op.outputs is not None else [])]
        keep = set(used) | set(outs)
        for extra in (getattr(op, "intermediates", None) if getattr(op, "intermediates", None) is not None else []):
            keep.add(int(extra))

        def constant(i: int) -> bool:
            b = sg.tensors[i].buffer
            return b > 0 and m.buffers[b].data is not None and len(m.buffers[b].data) > 0

        keep_buffers = {sg.tensors[i].buffer for i in keep}
        for bi, b in enumerate(m.buffers):  # drop the weights of every other op
            if bi not in keep_buffers:
                b.data = None
                b.offset, b.size = 0, 0
        sg.operators = [op]
        sg.inputs = [int(i) for i in dict.fromkeys(used) if not constant(i)]
        sg.outputs = outs
        m.signatureDefs = None
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        path = out / f"op{k:03d}.tflite"
        path.write_bytes(bytes(b.Output()))
        result.append({"index": k, "op": _op_name(m, op), "path": path})
    return result


def record(marks: dict[tuple[int, int], Any], names: list[str], cal: dict[str, int] | None) -> list[dict[str, Any]]:
    """Per-op instruction counts from the count log's marks 7 k / 8 k (the second invoke of op k:
    index 2k+1), net of the empty mark pair ``cal``."""
    from edgekit.emulator.counting import diff

    out = []
    for k, name in enumerate(names):
        a, b = marks.get((TAG_OP_BEGIN, 2 * k + 1)), marks.get((TAG_OP_END, 2 * k + 1))
        if a is None or b is None:
            out.append({"index": k, "op": name, "instructions": None, "classes": {}})
            continue
        d = diff(a, b)
        if cal:
            d = {c: v - cal.get(c, 0) for c, v in d.items()}
        out.append({"index": k, "op": name, "instructions": d.get("total"),
                    "classes": {c: v for c, v in d.items() if c != "total"}})
    return out


def by_type(ops: list[dict[str, Any]], model: Any) -> list[dict[str, Any]]:
    """Estimated ms per op type (largest first) with the op count, and the first op's share."""
    from edgekit import costmodel

    agg: dict[str, dict[str, Any]] = {}
    for o in ops:
        if not o.get("classes"):
            continue
        ms = costmodel.estimate(o["classes"], model)["ms"]
        a = agg.setdefault(o["op"], {"op": o["op"], "ops": 0, "ms": 0.0, "instructions": 0, "max_ms": 0.0, "max_index": None})
        a["ops"] += 1
        a["ms"] += ms
        a["instructions"] += o.get("instructions") or 0
        if ms > a["max_ms"]:
            a["max_ms"], a["max_index"] = ms, o["index"]
    return sorted(agg.values(), key=lambda a: -a["ms"])
