"""The instruction-counting qemu plugin (issue 6): classifier, exact counts on known code, marks.

- The classifier (``edgekit/emulator/plugin/classify.h``) is compiled on the host with gcc and fed
  99 encodings (A32, T16, T32) whose bytes were produced by GNU as for the instruction shown.
- A tiny ARM program (raw bytes in a hand-built ELF, no cross toolchain needed) runs under the real
  dynamic ``qemu-arm`` with the plugin: a loop of 8 known instructions x 1000 in ARM state, then
  the same loop in Thumb state built only of 32-bit, word-aligned instructions (the blocks whose
  state the plugin has to work out from qemu's disassembly); counts between marks must be exact.
- A guest that marks and then spins forever is killed: the mark is in the file.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest

from edgekit.emulator import counting

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("qemu-arm") is None,
                                reason="needs gcc and qemu-arm (bash scripts/setup.sh)")

# (set, encoding, expected class, what GNU as assembled) - T32 as (first halfword << 16) | second
CASES = [
    ("A32", 0xe0800001, "alu", "add r0, r0, r1"),
    ("A32", 0xe3a02005, "alu", "mov r2, #5"),
    ("A32", 0xe0010392, "mul", "mul r1, r2, r3"),
    ("A32", 0xe0214392, "mul", "mla r1, r2, r3, r4"),
    ("A32", 0xe710f211, "mul", "sdiv r0, r1, r2"),
    ("A32", 0xe5910004, "ldst", "ldr r0, [r1, #4]"),
    ("A32", 0xe1c100b2, "ldst", "strh r0, [r1, #2]"),
    ("A32", 0xe1c120d0, "ldst", "ldrd r2, [r1]"),
    ("A32", 0xe92d4010, "ldst", "push {r4, lr}"),
    ("A32", 0xe8bd0030, "ldst", "pop {r4, r5}"),
    ("A32", 0xe8bd8010, "branch", "pop {r4, pc}"),
    ("A32", 0xeafffff3, "branch", "b 0 <a_alu>"),
    ("A32", 0xebfffff2, "branch", "bl 0 <a_alu>"),
    ("A32", 0xe12fff1e, "branch", "bx lr"),
    ("A32", 0xe12fff33, "branch", "blx r3"),
    ("A32", 0xe1a0f00e, "branch", "mov pc, lr"),
    ("A32", 0xee300a81, "vfp", "vadd.f32 s0, s1, s2"),
    ("A32", 0xee010b02, "vfp", "vmla.f64 d0, d1, d2"),
    ("A32", 0xeebd0ac0, "vfp", "vcvt.s32.f32 s0, s0"),
    ("A32", 0xee001a10, "vfp", "vmov s0, r1"),
    ("A32", 0xeef1fa10, "vfp", "vmrs APSR_nzcv, fpscr"),
    ("A32", 0xed910b00, "simd_ldst", "vldr d0, [r1]"),
    ("A32", 0xed2d8b04, "simd_ldst", "vpush {d8-d9}"),
    ("A32", 0xf4210a8d, "simd_ldst", "vld1.32 {d0-d1}, [r1]!"),
    ("A32", 0xf402070f, "simd_ldst", "vst1.8 {d0}, [r2]"),
    ("A32", 0xf2020d44, "neon_float", "vadd.f32 q0, q1, q2"),
    ("A32", 0xf2020d54, "neon_float", "vmla.f32 q0, q1, q2"),
    ("A32", 0xf3a20544, "neon_float", "vmls.f32 q0, q1, d4[0]"),
    ("A32", 0xf2020c54, "neon_float", "vfma.f32 q0, q1, q2"),
    ("A32", 0xf3bb0642, "neon_float", "vcvt.f32.s32 q0, q1"),
    ("A32", 0xf2020f44, "neon_float", "vmax.f32 q0, q1, q2"),
    ("A32", 0xf2220844, "neon_int", "vadd.i32 q0, q1, q2"),
    ("A32", 0xf2920803, "neon_int", "vmlal.s16 q0, d2, d3"),
    ("A32", 0xf2820c03, "neon_int", "vmull.s8 q0, d2, d3"),
    ("A32", 0xf3220b44, "neon_int", "vqrdmulh.s32 q0, q1, q2"),
    ("A32", 0xf2bd0052, "neon_int", "vshr.s32 q0, q1, #3"),
    ("A32", 0xf2800050, "neon_int", "vmov.i32 q0, #0"),
    ("A32", 0xeea01b10, "neon_int", "vdup.32 q0, r1"),
    ("A32", 0xf3bc0c42, "neon_int", "vdup.32 q0, d2[1]"),
    ("A32", 0xf2b20344, "neon_int", "vext.8 q0, q1, q2, #3"),
    ("A32", 0xf3b601c2, "neon_int", "vzip.16 q0, q1"),
    ("A32", 0xf3b60202, "neon_int", "vmovn.i32 d0, q1"),
    ("A32", 0xf3b40642, "neon_int", "vpadal.s16 q0, q1"),
    ("A32", 0xf392004c, "neon_int", "vmla.i16 q0, q1, d4[1]"),
    ("A32", 0xf3b90742, "neon_float", "vabs.f32 q0, q1"),
    ("A32", 0xf3bb0542, "neon_float", "vrecpe.f32 q0, q1"),
    ("A32", 0xef000000, "other", "svc 0x00000000"),
    ("A32", 0xee1d0f70, "other", "mrc 15, 0, r0, cr13, cr0, {3}"),
    ("A32", 0xf57ff05b, "other", "dmb ish"),
    ("A32", 0xf5d1f000, "ldst", "pld [r1]"),
    ("A32", 0xe7e301d1, "alu", "ubfx r0, r1, #3, #4"),
    ("A32", 0xe7003211, "mul", "smlad r0, r1, r2, r3"),
    ("A32", 0xe1910f9f, "ldst", "ldrex r0, [r1]"),
    ("A32", 0xe16f0f11, "alu", "clz r0, r1"),
    ("T16", 0x1840, "alu", "adds r0, r0, r1"),
    ("T16", 0x2205, "alu", "movs r2, #5"),
    ("T16", 0x4351, "mul", "muls r1, r2"),
    ("T16", 0x6848, "ldst", "ldr r0, [r1, #4]"),
    ("T16", 0x4822, "ldst", "ldr r0, [pc, #136]"),
    ("T16", 0xb510, "ldst", "push {r4, lr}"),
    ("T16", 0xbd10, "branch", "pop {r4, pc}"),
    ("T16", 0xbc30, "ldst", "pop {r4, r5}"),
    ("T16", 0xb130, "branch", "cbz r0, f8 <t_alu16b>"),
    ("T16", 0xe7f5, "branch", "b.n d8 <t_alu16>"),
    ("T16", 0xd0f4, "branch", "beq.n d8 <t_alu16>"),
    ("T16", 0x4770, "branch", "bx lr"),
    ("T16", 0x4798, "branch", "blx r3"),
    ("T16", 0xbf08, "alu", "it eq"),
    ("T16", 0x46f7, "branch", "mov pc, lr"),
    ("T16", 0xb2c8, "alu", "uxtb r0, r1"),
    ("T16", 0xdf00, "other", "svc 0"),
    ("T32", 0xeb010082, "alu", "add.w r0, r1, r2, lsl #2"),
    ("T32", 0xf2412034, "alu", "movw r0, #4660"),
    ("T32", 0xfb013002, "mul", "mla r0, r1, r2, r3"),
    ("T32", 0xfb820103, "mul", "smull r0, r1, r2, r3"),
    ("T32", 0xfb91f0f2, "mul", "sdiv r0, r1, r2"),
    ("T32", 0xf8d10190, "ldst", "ldr.w r0, [r1, #400]"),
    ("T32", 0xe9c12302, "ldst", "strd r2, r3, [r1, #8]"),
    ("T32", 0xe8b001fe, "ldst", "ldmia.w r0!, {r1, r2, r3, r4, r5, r6, r7, r8}"),
    ("T32", 0xe8bd81f0, "branch", "ldmia.w sp!, {r4, r5, r6, r7, r8, pc}"),
    ("T32", 0xf7ffbfda, "branch", "b.w d8 <t_alu16>"),
    ("T32", 0xf7ffffd8, "branch", "bl d8 <t_alu16>"),
    ("T32", 0xf47fafd6, "branch", "bne.w d8 <t_alu16>"),
    ("T32", 0xe8dff000, "branch", "tbb [pc, r0]"),
    ("T32", 0xf8d0f004, "branch", "ldr.w pc, [r0, #4]"),
    ("T32", 0xee300a81, "vfp", "vadd.f32 s0, s1, s2"),
    ("T32", 0xee100a90, "vfp", "vmov r0, s1"),
    ("T32", 0xed910a02, "simd_ldst", "vldr s0, [r1, #8]"),
    ("T32", 0xf9210a0f, "simd_ldst", "vld1.8 {d0-d1}, [r1]"),
    ("T32", 0xef020d44, "neon_float", "vadd.f32 q0, q1, q2"),
    ("T32", 0xffa20964, "neon_float", "vmul.f32 q0, q1, d4[1]"),
    ("T32", 0xef120844, "neon_int", "vadd.i16 q0, q1, q2"),
    ("T32", 0xff820803, "neon_int", "vmlal.u8 q0, d2, d3"),
    ("T32", 0xffbb0742, "neon_float", "vcvt.s32.f32 q0, q1"),
    ("T32", 0xeec01b10, "neon_int", "vdup.8 d0, r1"),
    ("T32", 0xee1d0f70, "other", "mrc 15, 0, r0, cr13, cr0, {3}"),
    ("T32", 0xf3bf8f5b, "other", "dmb ish"),
    ("T32", 0xf3c100c3, "alu", "ubfx r0, r1, #3, #4"),
    ("T32", 0xf3af8000, "alu", "nop.w"),
]

C_MAIN = r"""
#include <stdio.h>
#include "classify.h"
int main(void) {
    char set[4]; unsigned long w;
    while (scanf("%3s %lx", set, &w) == 2) {
        int c = set[0] == 'A' ? ek_classify_a32((uint32_t)w)
              : set[1] == '1' ? ek_classify_t16((uint32_t)w) : ek_classify_t32((uint32_t)w);
        printf("%s\n", ek_class_names[c]);
    }
    return 0;
}
"""

# The guest program (GNU as output, see the module docstring): mark(1) ; ARM loop x1000 of
# vadd.f32 q / vadd.i32 q / vadd.f32 s / ldr / mul / vld1.32 / subs / bne ; mark(2) ;
# bx to Thumb ; movw r4,#1000 ; the same loop in 32-bit Thumb encodings (word aligned) ; mark(3) ; exit(0)
GUEST_LOOPS = bytes.fromhex(
    "c07d0ee30100a0e30010a0e3000000effa4fa0e3440d02f2446826f2810a30ee00509de5950506e08f072df4"
    "014054e2f7ffff1ac07d0ee30200a0e30010a0e3000000ef01308fe213ff2fe140f2e83402ef440d26ef4468"
    "30ee810addf8005005fb05f62df98f07b4f101047ff4f0af4ef6c0570320002100df0020012700df")
# mark(7, 42) then "b ." forever
GUEST_SPIN = bytes.fromhex("c07d0ee30700a0e32a10a0e3000000effeffffea")


def arm_elf(code: bytes, base: int = 0x10000) -> bytes:
    """A minimal static ARM EABI5 hard-float executable: one RWX segment, entry at the code."""
    ehsize, phsize = 52, 32
    off = ehsize + phsize  # 84: word aligned, so the Thumb loop stays word aligned
    total = off + len(code)
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    eh = ident + struct.pack("<HHIIIIIHHHHHH", 2, 40, 1, base + off, ehsize, 0, 0x05000400, ehsize, phsize, 1, 0, 0, 0)
    ph = struct.pack("<IIIIIIII", 1, 0, base, base, total, total, 7, 0x1000)
    return eh + ph + code


def run_guest(tmp: Path, code: bytes, cpu: str = "cortex-a7", timeout: float = 60) -> tuple[subprocess.CompletedProcess, str]:
    exe = tmp / "guest.elf"
    exe.write_bytes(arm_elf(code))
    exe.chmod(0o755)
    out = tmp / "counts.txt"
    plugin = counting.build_plugin()
    proc = subprocess.run(["qemu-arm", "-cpu", cpu, "-plugin", f"{plugin},out={out},mark={counting.MARK_SYSCALL}", str(exe)],
                          capture_output=True, text=True, timeout=timeout, env={"PATH": "/usr/bin:/bin"})
    return proc, out.read_text()


def test_classifier_on_assembled_encodings(tmp_path):
    src = tmp_path / "t.c"
    src.write_text(C_MAIN)
    exe = tmp_path / "t"
    subprocess.run(["gcc", "-O2", "-Wall", "-Werror", f"-I{counting.PLUGIN_DIR}", "-o", str(exe), str(src)], check=True)
    inp = "\n".join(f"{s} {w:x}" for s, w, _, _ in CASES) + "\n"
    got = subprocess.run([str(exe)], input=inp, capture_output=True, text=True, check=True).stdout.split()
    assert len(got) == len(CASES)
    wrong = [f"{s} {w:08x} {text!r}: {g}, expected {e}" for (s, w, e, text), g in zip(CASES, got) if g != e]
    assert not wrong, "\n".join(wrong)
    assert set(e for _, _, e, _ in CASES) == set(counting.CLASSES)  # every class exercised


@pytest.mark.parametrize("cpu", ["cortex-a7", "cortex-a15"])
def test_exact_counts_between_marks_in_arm_and_thumb_state(tmp_path, cpu):
    proc, text = run_guest(tmp_path, GUEST_LOOPS, cpu)
    assert proc.returncode == 0, proc.stderr
    log = counting.parse_log(text)
    assert [(m.tag, m.index) for m in log.marks] == [(1, 0), (2, 0), (3, 0)]
    assert log.exit is not None
    body = {"neon_float": 1000, "neon_int": 1000, "vfp": 1000, "ldst": 1000, "mul": 1000, "simd_ldst": 1000,
            "alu": 1000, "branch": 1000}
    arm = counting.diff(log.marks[0], log.marks[1])
    # + mov r4,#1000 before the loop; movw r7 / mov r0 / mov r1 / svc of the second mark
    assert arm == {**{c: 0 for c in counting.CLASSES}, **body, "alu": 1004, "other": 1, "total": 8005}
    thumb = counting.diff(log.marks[1], log.marks[2])
    # + adr, bx (ARM) ; movw r4 ; movw r7 / movs r0 / movs r1 / svc
    assert thumb == {**{c: 0 for c in counting.CLASSES}, **body, "alu": 1005, "branch": 1001, "other": 1,
                     "total": 8007}
    assert counting.thumb_between(log.marks[0], log.marks[1]) == 0
    assert counting.thumb_between(log.marks[1], log.marks[2]) == 8005   # all but adr + bx
    # the Thumb loop block (all 32-bit, word aligned) was decided from qemu's own disassembly
    assert log.stats["ambiguous"] >= 1 and log.stats["thumb_by_disas"] >= 1 and log.stats["ties"] == 0


def test_mark_survives_a_killed_guest(tmp_path):
    exe = tmp_path / "spin.elf"
    exe.write_bytes(arm_elf(GUEST_SPIN))
    exe.chmod(0o755)
    out = tmp_path / "counts.txt"
    proc = subprocess.Popen(["qemu-arm", "-plugin", f"{counting.build_plugin()},out={out}", str(exe)])
    try:
        # (wait for a complete mark record: the header line names mark=NR too, so a bare "mark"
        # in the file is no sign that the guest reached its mark)
        deadline = time.time() + 30
        while time.time() < deadline and not counting.parse_log(out.read_text() if out.exists() else "").marks:
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    log = counting.parse_log(out.read_text())
    assert [(m.tag, m.index, m.total) for m in log.marks] == [(7, 42, 4)]
    assert log.exit is None  # killed: no exit record, the mark is still there


def test_plugin_rebuilt_when_its_source_changes(tmp_path, monkeypatch):
    src = tmp_path / "plugin"
    shutil.copytree(counting.PLUGIN_DIR, src)
    monkeypatch.setattr(counting, "PLUGIN_DIR", src)
    monkeypatch.setenv("EDGEKIT_CACHE", str(tmp_path / "cache"))
    first = counting.build_plugin()
    assert first.is_file() and first.parent == tmp_path / "cache" / "plugins"
    mtime = first.stat().st_mtime_ns
    assert counting.build_plugin() == first and first.stat().st_mtime_ns == mtime  # cached
    with open(src / "insn_count.c", "a") as fh:
        fh.write("\n/* changed */\n")
    second = counting.build_plugin()
    assert second != first and second.is_file()


def test_plugin_refuses_bad_arguments(tmp_path):
    exe = tmp_path / "spin.elf"
    exe.write_bytes(arm_elf(GUEST_SPIN))
    exe.chmod(0o755)
    proc = subprocess.run(["qemu-arm", "-plugin", f"{counting.build_plugin()},colour=red", str(exe)],
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode != 0
    assert "unknown argument colour=red" in proc.stderr
