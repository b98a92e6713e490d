"""Trained students are kept in OUT/cache (edgekit.optimize.student_cache): a later run that needs the
same student — another export of it, a recipe changed around it, a killed search re-run — loads it
instead of training it again; another student, or a cache file that cannot be read, is trained."""

from __future__ import annotations

import pytest

from conftest import read_json, run_edgekit

pytestmark = pytest.mark.slow

STUDENT = "distill(width=8, epochs=2, batch_size=64)"


def _optimize(tmp_path, teacher, data, out, variants: dict[str, list[str]]):
    rec = tmp_path / f"r{len(list(tmp_path.glob('r*.toml')))}.toml"
    rec.write_text("".join(f'[[variant]]\nname = "{n}"\nchain = {chain!r}\n'.replace("'", '"') for n, chain in variants.items()))
    proc = run_edgekit("optimize", teacher, "--data", data, "--recipe", rec, "--out", out, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def test_a_trained_student_is_reused_by_later_runs_and_a_broken_cache_file_is_trained_again(tmp_path, tiny_model, small_npz):
    out = tmp_path / "o"
    log = _optimize(tmp_path, tiny_model, small_npz, out, {"s": [STUDENT]})
    cache = sorted((out / "cache").glob("student-*.h5"))
    assert len(cache) == 1 and cache[0].with_suffix(".json").is_file() and "reused from student-" not in log
    trained_for = read_json(cache[0].with_suffix(".json"))["seconds"]
    first = read_json(out / "variants" / "s" / "manifest.json")

    # another export of the same student and a student of other epochs: the first is loaded, the second trained
    log = _optimize(tmp_path, tiny_model, small_npz, out, {"s": [STUDENT], "s16": [STUDENT, "ptq-float16"],
                                                           "s1": [STUDENT.replace("epochs=2", "epochs=1")]})
    assert log.count(f"reused from {cache[0].name}") == 1, log[-3000:]
    assert len(list((out / "cache").glob("student-*.h5"))) == 2
    s16 = read_json(out / "variants" / "s16" / "manifest.json")
    assert s16["training_seconds"] >= trained_for   # the student's training counts, though not repeated
    # the student loaded is the one trained: its float16 export answers as its float32 one did
    assert abs(read_json(out / "variants" / "s16" / "eval.json")["accuracy"]
               - read_json(out / "variants" / "s" / "eval.json")["accuracy"]) <= 0.01
    assert read_json(out / "variants" / "s" / "manifest.json")["sha256"] == first["sha256"]   # "s": unchanged, skipped

    # a truncated weights file: trained again (no error), and written whole again
    cache[0].write_bytes(cache[0].read_bytes()[:200])
    log = _optimize(tmp_path, tiny_model, small_npz, out, {"s8": [STUDENT, "ptq-dynamic"]})
    assert "reused from student-" not in log and read_json(out / "variants" / "s8" / "eval.json")["status"] in ("ok", "suspect")
    assert cache[0].stat().st_size > 200
