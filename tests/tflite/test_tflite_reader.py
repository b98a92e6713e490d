"""edgekit.tflite's reader: the flatc-generated ``tflite`` classes behind a bounds-checked table.

The plain generated reader is run on the same bytes to show each check is needed: it returns garbage
(a cut-short string, a 2**31-element vector) where edgekit gives one error line.
"""

from __future__ import annotations

import importlib.util
import re
import struct
from importlib import import_module
from pathlib import Path

import flatbuffers
import numpy as np
import pytest
from _tiny_tflite import tiny_models

from edgekit.errors import EdgekitError
from edgekit.tflite.inspect import builtin_op_name, read_model_info, weight_stats
from edgekit.tflite.names import tensor_type

# the generated modules (``import tflite.Buffer`` names the class: the package re-exports it)
B, M, O, OC, SG, T = (import_module(f"tflite.{n}") for n in ("Buffer", "Model", "Operator", "OperatorCode", "SubGraph", "Tensor"))


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    return tiny_models(tmp_path_factory.getbasetemp())


def _tf_schema_enum(name: str) -> dict[str, int]:
    """An enum of the installed TensorFlow's own generated schema, read as text (TF is not imported)."""
    spec = importlib.util.find_spec("tensorflow")
    assert spec is not None and spec.submodule_search_locations, "the test venv has the optimize extra"
    src = (Path(next(iter(spec.submodule_search_locations))) / "lite/python/schema_py_generated.py").read_text()
    body = re.search(rf"class {name}\(object\):\n(.*?)\n\n", src, re.S).group(1)
    return {k: int(v) for k, v in re.findall(r"^    (\w+) = (-?\d+)$", body, re.M)}


def test_the_pinned_schema_names_the_ops_of_the_pinned_converter():
    tf_ops = _tf_schema_enum("BuiltinOperator")
    unknown = {name for name, code in tf_ops.items() if builtin_op_name(code) != name}
    # the one op TF 2.21's schema has beyond tflite 2.18's: StableHLO only, never emitted for Keras models
    assert unknown == {"STABLEHLO_CASE"}
    tf_types = _tf_schema_enum("TensorType")
    assert {n for n, c in tf_types.items() if tensor_type(c)[0] != n.lower()} == {"INT2", "UINT4"}
    assert tensor_type(19) == ("type19", None)
    assert builtin_op_name(tf_ops["STABLEHLO_CASE"]) == f"UNKNOWN_{tf_ops['STABLEHLO_CASE']}"


# ---- where the plain generated reader misreads and the checked one refuses ----------------------

def _first_tensor(data: bytes):
    return M.Model.GetRootAs(data, 0).Subgraphs(0).Tensors(0)


def _field_target(obj, slot: int) -> int:
    """Byte position an offset field of a generated object points at (its vector / string length word)."""
    tab = obj._tab
    o = tab.Offset(slot)
    assert o, "field present"
    return tab.Indirect(o + tab.Pos)


def test_string_running_past_the_end_is_an_error_not_a_cut_short_name(tiny):
    data = bytearray((tiny / "float.tflite").read_bytes())
    pos = _field_target(_first_tensor(bytes(data)), 10)  # Tensor.name
    struct.pack_into("<I", data, pos, len(data))
    plain = _first_tensor(bytes(data)).Name()
    assert len(plain) < len(data)  # the generated reader silently returns a shorter string
    with pytest.raises(EdgekitError, match=r"not a valid \.tflite \(truncated at byte \d+\?") as err:
        read_model_info(bytes(data))
    assert "\n" not in err.value.one_line()


def test_huge_shape_length_is_refused_before_any_loop(tiny):
    data = bytearray((tiny / "float.tflite").read_bytes())
    pos = _field_target(_first_tensor(bytes(data)), 4)  # Tensor.shape
    struct.pack_into("<I", data, pos, 0x7FFFFFFF)
    assert _first_tensor(bytes(data)).ShapeLength() == 0x7FFFFFFF  # what a plain loop would iterate
    with pytest.raises(EdgekitError, match="runs past the end"):
        read_model_info(bytes(data))


def test_field_outside_its_table_is_corrupt(tiny):
    data = bytearray((tiny / "float.tflite").read_bytes())
    tensor = _first_tensor(bytes(data))
    tab = tensor._tab
    vtable = tab.Pos - struct.unpack_from("<i", data, tab.Pos)[0]
    obj_size = struct.unpack_from("<H", data, vtable + 2)[0]
    struct.pack_into("<H", data, vtable + 6, obj_size + 8)  # Tensor.type past the table's end
    with pytest.raises(EdgekitError, match=r"corrupt at byte \d+: field at \+\d+ lies outside"):
        read_model_info(bytes(data))


# ---- features the tiny converted models do not have ---------------------------------------------

def _model(weights: np.ndarray, *, external: bool, custom: str | None = "MyOp", past_end: int = 0) -> bytes:
    """One CUSTOM op over a constant float tensor; its data inline or after the flatbuffer (offset/size)."""
    b = flatbuffers.Builder(1024)
    raw = weights.astype("<f4").tobytes()
    inline = None if external else b.CreateNumpyVector(np.frombuffer(raw, np.uint8))
    B.BufferStart(b)  # buffer 0: the empty one every converter writes
    bufs = [B.BufferEnd(b)]
    B.BufferStart(b)
    if external:  # offset is patched to the end of the flatbuffer below
        B.BufferAddOffset(b, 0xDEADBEEF)
        B.BufferAddSize(b, len(raw))
    else:
        B.BufferAddData(b, inline)
    bufs.append(B.BufferEnd(b))
    M.ModelStartBuffersVector(b, len(bufs))
    for x in reversed(bufs):
        b.PrependUOffsetTRelative(x)
    buffers = b.EndVector()
    name = b.CreateString("layer/kernel")
    shape = b.CreateNumpyVector(np.array(weights.shape, np.int32))
    T.TensorStart(b)
    T.TensorAddShape(b, shape)
    T.TensorAddBuffer(b, 1)
    T.TensorAddName(b, name)
    tensor = T.TensorEnd(b)
    SG.SubGraphStartTensorsVector(b, 1)
    b.PrependUOffsetTRelative(tensor)
    tensors = b.EndVector()
    io = b.CreateNumpyVector(np.array([0], np.int32))
    O.OperatorStart(b)
    O.OperatorAddInputs(b, io)
    O.OperatorAddOutputs(b, io)
    op = O.OperatorEnd(b)
    SG.SubGraphStartOperatorsVector(b, 1)
    b.PrependUOffsetTRelative(op)
    operators = b.EndVector()
    SG.SubGraphStart(b)
    SG.SubGraphAddTensors(b, tensors)
    SG.SubGraphAddOperators(b, operators)
    sg = SG.SubGraphEnd(b)
    M.ModelStartSubgraphsVector(b, 1)
    b.PrependUOffsetTRelative(sg)
    subgraphs = b.EndVector()
    code_name = b.CreateString(custom) if custom else None
    OC.OperatorCodeStart(b)
    OC.OperatorCodeAddDeprecatedBuiltinCode(b, 32)  # CUSTOM
    OC.OperatorCodeAddBuiltinCode(b, 32)
    if code_name is not None:
        OC.OperatorCodeAddCustomCode(b, code_name)
    code = OC.OperatorCodeEnd(b)
    M.ModelStartOperatorCodesVector(b, 1)
    b.PrependUOffsetTRelative(code)
    codes = b.EndVector()
    M.ModelStart(b)
    M.ModelAddVersion(b, 3)
    M.ModelAddOperatorCodes(b, codes)
    M.ModelAddSubgraphs(b, subgraphs)
    M.ModelAddBuffers(b, buffers)
    b.Finish(M.ModelEnd(b), file_identifier=b"TFL3")
    out = bytearray(b.Output())
    if external:
        marker = struct.pack("<Q", 0xDEADBEEF)
        at = out.index(marker)
        struct.pack_into("<Q", out, at, len(out) + past_end)
        out += raw
    return bytes(out)


W = np.array([[0.0, 1.5, 0.0], [2.0, 0.0, 0.0]], np.float32)


@pytest.mark.parametrize("external", [False, True], ids=["inline", "after-the-flatbuffer"])
def test_weights_inline_and_after_the_flatbuffer(external):
    data = _model(W, external=external)
    info = read_model_info(data)
    assert info["ops"] == [{"op": "CUSTOM:MyOp", "version": 1, "count": 1}]
    assert info["tensors"][0]["const"] and info["tensors"][0]["bytes"] == W.nbytes
    assert info["const_params"] == 6
    stats = weight_stats(data)
    assert stats["layers"] == {"layer/kernel": {"sparsity": 4 / 6, "unique": 3, "size": 6, "dtype": "float32"}}


def test_custom_op_without_a_name_and_external_data_past_the_end():
    assert read_model_info(_model(W, external=False, custom=None))["ops"][0]["op"] == "CUSTOM"
    with pytest.raises(EdgekitError, match=r"buffer data of 24 bytes at byte \d+ runs past the end"):
        read_model_info(_model(W, external=True, past_end=1))
