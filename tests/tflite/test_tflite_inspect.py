"""edgekit.tflite.inspect on real converted models: ops, I/O, weight statistics, one-line errors for bad files."""

from __future__ import annotations

import json
import random
import struct

import numpy as np
import pytest
from _tiny_tflite import tiny_models

from edgekit.errors import EdgekitError
from edgekit.tflite.inspect import builtin_op_name, read_model_info, weight_stats
from edgekit.tflite.weights import zero_mask as _zero_mask


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_models(tmp_path_factory.getbasetemp())


def _ops(info):
    return {(o["op"], o["version"]): o["count"] for o in info["ops"]}


def test_float_model_ops_and_io(tiny):
    info = read_model_info(tiny / "float.tflite")
    assert _ops(info) == {("CONV_2D", 1): 1, ("DEPTHWISE_CONV_2D", 1): 1, ("FULLY_CONNECTED", 1): 1,
                          ("RESHAPE", 1): 1, ("SOFTMAX", 1): 1}
    assert info["ops"] == sorted(info["ops"], key=lambda o: (o["op"], o["version"]))
    (inp,), (out,) = info["inputs"], info["outputs"]
    assert inp["shape"] == [1, 8, 8, 1] and inp["shape_signature"] == [-1, 8, 8, 1]
    assert inp["dtype"] == "float32" and inp["quantization"] is None
    assert out["shape"] == [1, 10] and out["dtype"] == "float32"
    assert info["size_bytes"] == (tiny / "float.tflite").stat().st_size
    assert info["schema_version"] == 3 and info["subgraphs"] == 1
    # 36 + 36 + 1440 kernel weights, 4 + 4 + 10 biases, plus the reshape's shape constant (2)
    assert info["const_params"] == 36 + 36 + 1440 + 4 + 4 + 10 + 2
    json.dumps(info)  # JSON-serialisable as documented


def test_int8_model_op_versions_and_quantization(tiny):
    info = read_model_info(tiny / "int8.tflite")
    ops = _ops(info)
    # the versions tflite-runtime 2.14 supports for full-integer files (STACK.md)
    assert ops[("CONV_2D", 3)] == 1 and ops[("DEPTHWISE_CONV_2D", 3)] == 1
    assert ops[("FULLY_CONNECTED", 4)] == 1 and ops[("SOFTMAX", 2)] == 1
    inp, out = info["inputs"][0], info["outputs"][0]
    assert inp["dtype"] == "int8" and out["dtype"] == "int8"
    assert inp["quantization"]["scale"] > 0 and isinstance(inp["quantization"]["zero_point"], int)
    assert out["quantization"] == {"scale": pytest.approx(1 / 256), "zero_point": -128}
    per_channel = [t for t in info["tensors"] if t["quantization"] and isinstance(t["quantization"]["scale"], list)]
    assert per_channel and all("quantized_dimension" in t["quantization"] for t in per_channel)


def test_dynamic_range_fc_v12_and_float16_dequantize(tiny):
    assert ("FULLY_CONNECTED", 12) in _ops(read_model_info(tiny / "dynamic.tflite"))
    assert _ops(read_model_info(tiny / "float16.tflite"))[("DEQUANTIZE", 3)] == 6


@pytest.mark.parametrize("name,dtype", [("float", "float32"), ("int8", "int8"), ("float16", "float16"), ("dynamic", None)])
def test_weight_stats_match_the_weights_set_in_keras(tiny, name, dtype):
    expected = json.loads((tiny / "expected.json").read_text())["weights"]
    stats = weight_stats(tiny / f"{name}.tflite")
    by_layer = {}
    for tensor_name, s in stats["layers"].items():
        layer = next(k for k in expected if f"/{k}/" in tensor_name)
        by_layer[layer] = s
    assert set(by_layer) == set(expected)  # kernels only: no biases, no shape constants
    for layer, e in expected.items():
        s = by_layer[layer]
        assert s["size"] == e["size"]
        assert s["unique"] == e["unique"] == 4  # 4 distinct values survive every conversion
        assert s["sparsity"] == pytest.approx(e["zeros"] / e["size"])
        if dtype:
            assert s["dtype"] == dtype
    zeros = sum(e["zeros"] for e in expected.values())
    total = sum(e["size"] for e in expected.values())
    assert stats["weight_count"] == total
    assert stats["overall_sparsity"] == pytest.approx(zeros / total)
    assert by_layer["fc"]["dtype"] == ("int8" if name in ("int8", "dynamic") else dtype)


def test_quantized_zero_is_the_zero_point():
    q = np.array([[5, 5, 7], [0, 5, 9]], dtype=np.int8)
    assert _zero_mask(q, {"scale": 0.1, "zero_point": 5}).sum() == 3
    per_channel = {"scale": [0.1, 0.2], "zero_point": [5, 0], "quantized_dimension": 0}
    assert _zero_mask(q, per_channel).tolist() == [[True, True, False], [True, False, False]]
    assert _zero_mask(np.array([0.0, -0.0, 1e-9], np.float32), None).tolist() == [True, True, False]


def test_bytes_and_path_give_the_same_info(tiny):
    data = (tiny / "int8.tflite").read_bytes()
    assert read_model_info(data) == read_model_info(tiny / "int8.tflite")
    assert weight_stats(data) == weight_stats(tiny / "int8.tflite")


# ---- op codes: deprecated_builtin_code (int8) vs builtin_code (int32) ---------------------------

def _minimal_model(opcodes: list[dict]) -> bytes:
    """A structurally valid one-tensor .tflite with the given OperatorCode fields, one op each."""
    import flatbuffers

    b = flatbuffers.Builder(256)
    b.StartObject(3)  # Buffer (empty)
    buf0 = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(buf0)
    buffers = b.EndVector()
    name = b.CreateString("x")
    b.StartVector(4, 2, 4)
    b.PrependInt32(4)
    b.PrependInt32(1)
    shape = b.EndVector()
    b.StartObject(4)  # Tensor: shape(0) type(1) buffer(2) name(3)
    b.PrependUOffsetTRelativeSlot(0, shape, 0)
    b.PrependUOffsetTRelativeSlot(3, name, 0)
    tensor = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(tensor)
    tensors = b.EndVector()
    ops = []
    for i in range(len(opcodes)):
        b.StartVector(4, 1, 4)
        b.PrependInt32(0)
        io = b.EndVector()
        b.StartObject(3)  # Operator: opcode_index(0) inputs(1) outputs(2)
        b.PrependUint32Slot(0, i, 0)
        b.PrependUOffsetTRelativeSlot(1, io, 0)
        b.PrependUOffsetTRelativeSlot(2, io, 0)
        ops.append(b.EndObject())
    b.StartVector(4, len(ops), 4)
    for op in reversed(ops):
        b.PrependUOffsetTRelative(op)
    operators = b.EndVector()
    b.StartObject(5)  # SubGraph: tensors(0) inputs(1) outputs(2) operators(3)
    b.PrependUOffsetTRelativeSlot(0, tensors, 0)
    b.PrependUOffsetTRelativeSlot(3, operators, 0)
    sg = b.EndObject()
    b.StartVector(4, 1, 4)
    b.PrependUOffsetTRelative(sg)
    subgraphs = b.EndVector()
    codes = []
    for oc in opcodes:
        n_fields = 4 if "builtin_code" in oc else 3  # an "old" file has no field 3 at all
        b.StartObject(n_fields)
        b.PrependInt8Slot(0, oc.get("deprecated", 0), 0)
        b.PrependInt32Slot(2, oc.get("version", 1), 1)
        if "builtin_code" in oc:
            b.PrependInt32Slot(3, oc["builtin_code"], 0)
        codes.append(b.EndObject())
    b.StartVector(4, len(codes), 4)
    for c in reversed(codes):
        b.PrependUOffsetTRelative(c)
    opcode_vec = b.EndVector()
    b.StartObject(5)  # Model
    b.PrependUint32Slot(0, 3, 0)
    b.PrependUOffsetTRelativeSlot(1, opcode_vec, 0)
    b.PrependUOffsetTRelativeSlot(2, subgraphs, 0)
    b.PrependUOffsetTRelativeSlot(4, buffers, 0)
    model = b.EndObject()
    b.Finish(model, file_identifier=b"TFL3")
    return bytes(b.Output())


def test_old_and_new_op_code_fields():
    data = _minimal_model([
        {"deprecated": 3, "version": 2},                               # old file: only the int8 field (CONV_2D)
        {"deprecated": 127, "builtin_code": 150, "version": 1},        # new op: int8 field saturated at 127
        {"deprecated": 9, "builtin_code": 9, "version": 12},           # converters write both
        {"deprecated": 0, "builtin_code": 9999, "version": 1},         # newer than our enum table
    ])
    ops = _ops(read_model_info(data))
    assert ops == {("CONV_2D", 2): 1, ("GELU", 1): 1, ("FULLY_CONNECTED", 12): 1, ("UNKNOWN_9999", 1): 1}
    assert builtin_op_name(127) == "PLACEHOLDER_FOR_GREATER_OP_CODES"


# ---- bad files: one-line EdgekitError, never another exception ---------------------------------

def test_truncated_file_names_the_byte(tiny, tmp_path):
    data = (tiny / "int8.tflite").read_bytes()
    bad = tmp_path / "half.tflite"
    bad.write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgekitError) as err:
        read_model_info(bad)
    line = err.value.one_line()
    assert f"{bad} is not a valid .tflite (truncated at byte {len(data) // 2}?" in line
    assert "re-export it" in line and "\n" not in line


def test_every_truncation_is_a_clean_error(tiny):
    data = (tiny / "int8.tflite").read_bytes()
    for n in range(0, len(data), 3):
        with pytest.raises(EdgekitError):
            read_model_info(data[:n])


def test_corrupted_bytes_never_escape_as_other_exceptions(tiny):
    data = (tiny / "float16.tflite").read_bytes()
    rng = random.Random(0)
    outcomes = {"ok": 0, "error": 0}
    for _ in range(400):
        b = bytearray(data)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        try:
            read_model_info(bytes(b))
            weight_stats(bytes(b))
            outcomes["ok"] += 1
        except EdgekitError as exc:
            assert "\n" not in exc.one_line()
            outcomes["error"] += 1
    assert outcomes["error"] > 0


def test_huge_vector_length_is_caught(tiny):
    data = bytearray((tiny / "float.tflite").read_bytes())
    root = struct.unpack_from("<I", data, 0)[0]
    vtable = root - struct.unpack_from("<i", data, root)[0]
    field = struct.unpack_from("<H", data, vtable + 4 + 2 * 2)[0]  # Model.subgraphs
    vec = root + field + struct.unpack_from("<I", data, root + field)[0]
    struct.pack_into("<I", data, vec, 0x7FFFFFFF)
    with pytest.raises(EdgekitError, match="not a valid .tflite"):
        read_model_info(bytes(data))


@pytest.mark.parametrize("content,match", [
    (b"", "is empty"),
    (b"\x1c\x00", "only 2 bytes"),
    (b"PK\x03\x04 this is a zip, not a model", "no 'TFL3' identifier"),
    (b"\x10\x00\x00\x00TFL3" + b"\xff" * 8, "not a valid .tflite"),
])
def test_bad_files(tmp_path, content, match):
    p = tmp_path / "bad.tflite"
    p.write_bytes(content)
    with pytest.raises(EdgekitError, match=match) as err:
        read_model_info(p)
    with pytest.raises(EdgekitError):
        weight_stats(p)
    assert str(p) in err.value.one_line()


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(EdgekitError, match="does not exist"):
        read_model_info(tmp_path / "nope.tflite")
    with pytest.raises(EdgekitError, match="is a directory"):
        read_model_info(tmp_path)
