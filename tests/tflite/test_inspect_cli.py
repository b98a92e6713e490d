"""`edgekit inspect`: the JSON report (validated against docs/inspect.schema.json), MACs, and bad files.

Models: the tiny hand-weighted 8x8 models (tests/_tiny_tflite.py: float32, int8, dynamic-range,
float16, logits, fixed batch — every export kind of the default recipe) and, for the bad files, the
same bytes truncated or with a structural bit flipped. Each bad file: one line, exit 2, no traceback,
and `edgekit bench`'s target pre-check gives the same reason.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import jsonschema
import pytest

from _tiny_tflite import NAMES, tiny_models
from conftest import ROOT, run_edgekit

SCHEMA = json.loads((ROOT / "docs" / "inspect.schema.json").read_text())


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_models(tmp_path_factory.getbasetemp())


def _one_line_exit_2(r) -> str:
    lines = [ln for ln in r.stderr.strip().splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and "Traceback" not in r.stderr, (r.returncode, r.stderr)
    return lines[0]


def test_json_of_every_kind_validates_and_loads_in_the_device_runtime(tiny):
    files = [tiny / f"{n}.tflite" for n in NAMES]
    r = run_edgekit("inspect", *files, "--json", check=True)
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    by = {Path(m["path"]).stem: m for m in doc["models"]}
    assert set(by) == set(NAMES)
    # the tiny dynamic-range model is converted the way TF >= 2.17 does by default: FULLY_CONNECTED v12
    assert by["dynamic"]["runtime"]["status"] == "incompatible"
    assert "'FULLY_CONNECTED' version '12'" in by["dynamic"]["runtime"]["reason"]
    assert {"op": "FULLY_CONNECTED", "version": 12} in [{k: o[k] for k in ("op", "version")} for o in by["dynamic"]["ops"]]
    assert all(m["runtime"]["status"] == "ok" for n, m in by.items() if n != "dynamic")
    assert by["int8"]["inputs"][0]["dtype"] == "int8" and by["int8"]["inputs"][0]["quantization"]["zero_point"] is not None
    assert "float16" in by["float16"]["weight_dtypes"] and any(o["op"] == "DEQUANTIZE" for o in by["float16"]["ops"])
    assert by["int8"]["weight_dtypes"] == ["int8"]
    # the same graph whatever the dtypes: the same MACs, all of them in the MAC ops
    macs = {m["macs"] for n, m in by.items() if n in ("float", "int8", "dynamic", "float16")}
    assert len(macs) == 1 and macs.pop() > 0
    for m in by.values():
        assert m["macs"] == sum(o["macs"] for o in m["ops"])
        assert m["gzip_size_bytes"] < m["size_bytes"] or m["size_bytes"] < 2000
        for u in m["unique_weights"].values():
            assert u["channels"] == len(u["per_channel"]) and u["min"] <= u["median"] <= u["max"]


def test_macs_of_a_known_dense_layer(tiny):
    """FULLY_CONNECTED MACs = output elements x input features, read from the stored shapes."""
    r = run_edgekit("inspect", tiny / "float.tflite", "--json", "--no-runtime-check", check=True)
    m = json.loads(r.stdout)["models"][0]
    assert m["runtime"] is None
    fc = [o for o in m["ops"] if o["op"] == "FULLY_CONNECTED"]
    from edgekit.tflite.inspect import read_model_info

    info = read_model_info(tiny / "float.tflite")
    weights = [t for t in info["tensors"] if t["const"] and len(t["shape"]) == 2]
    assert fc and fc[0]["macs"] == sum(t["shape"][0] * t["shape"][1] for t in weights)


def test_text_output_names_the_essentials(tiny):
    out = run_edgekit("inspect", tiny / "int8.tflite", check=True).stdout
    for words in ("size", "gzip", "parameters", "MACs", "input", "int8[", "CONV_2D v", "tflite-runtime 2.14.0: ok", "metadata"):
        assert words in out, (words, out)


def test_truncated_file_is_one_line_with_the_sizes_and_bench_records_the_same(tiny, tmp_path):
    data = (tiny / "float.tflite").read_bytes()
    bad = tmp_path / "trunc.tflite"
    bad.write_bytes(data[: len(data) // 2])
    line = _one_line_exit_2(run_edgekit("inspect", bad))
    assert f"truncated: {len(data) // 2:,} of at least" in line and str(bad) in line
    need = int(line.split("of at least ")[1].split(" bytes")[0].replace(",", ""))
    assert len(data) // 2 < need <= len(data)
    from edgekit.bench.targets import resolve_targets

    (t,), _ = resolve_targets([bad])
    assert t.invalid == line.split(f"{bad}: ", 1)[1]


@pytest.mark.parametrize("where", ["root offset", "vtable offset", "identifier", "signature_defs length"])
def test_bit_flipped_file_is_one_line(tiny, tmp_path, where):
    data = bytearray((tiny / "int8.tflite").read_bytes())
    if where == "root offset":
        data[2] ^= 0x40
    elif where == "vtable offset":
        root = int.from_bytes(data[0:4], "little")
        data[root + 3] ^= 0x80           # the root table's signed offset to its vtable: far outside the file
    elif where == "identifier":
        data[5] ^= 0x01                  # 'TFL3' -> 'TGL3'
    else:   # 1 -> 1001 signature defs: tflite-runtime's Python Interpreter dereferences garbage (SIGSEGV)
        root = struct.unpack_from("<I", data, 0)[0]
        vtable = root - struct.unpack_from("<i", data, root)[0]
        field = struct.unpack_from("<H", data, vtable + 4 + 2 * 7)[0]
        vec = root + field + struct.unpack_from("<I", data, root + field)[0]
        struct.pack_into("<I", data, vec, struct.unpack_from("<I", data, vec)[0] ^ 0x3E9 ^ 0x1)
    bad = tmp_path / "flip.tflite"
    bad.write_bytes(bytes(data))
    if where == "root offset":    # the command once; the other flips through the same function it calls
        line = _one_line_exit_2(run_edgekit("inspect", bad))
    else:
        from edgekit.tflite.describe import problem

        line = problem(bad)
    assert line and "\n" not in line and any(w in line for w in ("corrupt", "truncated", "not a .tflite")), line


def test_good_and_bad_files_together_report_both_and_exit_2(tiny, tmp_path):
    bad = tmp_path / "empty.tflite"
    bad.write_bytes(b"")
    r = run_edgekit("inspect", tiny / "float.tflite", bad, "--json", "--no-runtime-check")
    assert r.returncode == 2 and "empty (0 bytes)" in r.stderr
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert [("error" in m) for m in doc["models"]] == [False, True]


def test_a_folder_stands_for_its_tflite_files_and_a_missing_file_is_one_line(tiny, tmp_path):
    assert _one_line_exit_2(run_edgekit("inspect", tmp_path / "nope.tflite")).endswith("does not exist")
    r = run_edgekit("inspect", tiny, "--json", "--no-runtime-check", check=True)
    assert len(json.loads(r.stdout)["models"]) >= len(NAMES)
