"""Single-op models for per-op counted marks (edgekit.bench.ops): every operator cut out, runnable alone."""

from __future__ import annotations

import pytest

from bench_models import tiny_models

from edgekit.bench import ops
from edgekit.emulator.counting import CLASSES, Mark
from edgekit.tflite.runner import check_loadable


@pytest.mark.parametrize("name", ["float.tflite", "int8.tflite"])
def test_every_op_becomes_a_model_that_runs_alone(tmp_path, name):
    src = tiny_models() / name
    split = ops.split(src, tmp_path / "ops")
    assert [o["index"] for o in split] == list(range(len(split))) == list(range(_n_ops(src)))
    assert split[0]["op"] == "CONV_2D" and len(split) >= 3
    for o in split:   # each loads and runs alone in tflite-runtime (the device's 2.14, on the host)
        ok, why = check_loadable(o["path"])
        assert ok, (o, why)


def _n_ops(path):
    import tflite

    return tflite.Model.GetRootAsModel(path.read_bytes(), 0).Subgraphs(0).OperatorsLength()


def _mark(tag, index, **counts):
    classes = {c: counts.get(c, 0) for c in CLASSES}
    return Mark(tag, index, sum(classes.values()), classes)


def test_per_op_records_come_from_marks_7_and_8():
    seq = [_mark(7, 0, alu=100), _mark(8, 0, alu=600),                 # op 0, first invoke (prepacking): ignored
           _mark(7, 1, alu=700), _mark(8, 1, alu=1000, neon_int=100),  # op 0, second invoke
           _mark(7, 2, alu=1100, neon_int=100), _mark(8, 2, alu=1200, neon_int=100)]
    marks = {(m.tag, m.index): m for m in seq}
    rec = ops.record(marks, ["CONV_2D", "SOFTMAX"], {"total": 10, "alu": 10})
    assert rec[0]["instructions"] == 390 and rec[0]["classes"]["alu"] == 290 and rec[0]["classes"]["neon_int"] == 100
    assert rec[1]["instructions"] is None   # its second invoke was never reached
