/*
 * edgekit: classify one ARMv7-A guest instruction (A32 or T32 encoding) into a cost class.
 *
 * Pure functions, no qemu dependency: included by the TCG plugin (insn_count.c) and by the host
 * unit test (tests/test_insn_classify.c is built from tests/test_count_plugin.py).
 *
 * Encodings follow the ARM Architecture Reference Manual ARMv7-A/R (DDI 0406C), chapter A5
 * ("ARM instruction set encoding") and A6 ("Thumb instruction set encoding"), A7 ("Advanced SIMD
 * and Floating-point instruction encoding").
 *
 * A 32-bit Thumb instruction is passed as (first halfword << 16) | second halfword.
 */
#ifndef EDGEKIT_CLASSIFY_H
#define EDGEKIT_CLASSIFY_H

#include <stdint.h>

enum ek_class {
    EK_ALU = 0,      /* integer data processing, moves, shifts, compares, extends, bitfield, hints */
    EK_MUL,          /* integer multiply, multiply-accumulate, divide */
    EK_LDST,         /* integer loads/stores incl. LDM/STM/PUSH/POP, exclusive, preload */
    EK_BRANCH,       /* B, BL, BLX, BX, CBZ/CBNZ, TBB/TBH and any write of the PC */
    EK_VFP,          /* VFP scalar floating point (and core<->VFP register transfers) */
    EK_NEON_INT,     /* Advanced SIMD integer, bitwise and permute */
    EK_NEON_FLOAT,   /* Advanced SIMD single-precision float */
    EK_SIMD_LDST,    /* VLDR/VSTR/VLDM/VSTM/VPUSH/VPOP, VLDn/VSTn element and structure */
    EK_OTHER,        /* SVC, system/coprocessor (e.g. TLS reads), barriers, undefined */
    EK_NCLASSES
};

static const char *const ek_class_names[EK_NCLASSES] = {
    "alu", "mul", "ldst", "branch", "vfp", "neon_int", "neon_float", "simd_ldst", "other",
};

#define EK_BITS(x, hi, lo) (((x) >> (lo)) & ((1u << ((hi) - (lo) + 1)) - 1u))
#define EK_BIT(x, n) (((x) >> (n)) & 1u)

/* Advanced SIMD data processing, given in A32 form (1111 001U ...). Float or integer? */
static inline int ek_neon_dp(uint32_t w)
{
    uint32_t a, b;
    if (!EK_BIT(w, 23)) {
        /* three registers of the same length: A = bits 11:8, B = bit 4 */
        a = EK_BITS(w, 11, 8);
        b = EK_BIT(w, 4);
        if (a == 0xD || a == 0xE || a == 0xF || (a == 0xC && b))
            return EK_NEON_FLOAT;   /* VADD/VMUL/VMLA/VFMA/VCMP/VMAX/VRECPS .F32 */
        return EK_NEON_INT;
    }
    if (EK_BITS(w, 21, 19) == 0 && !EK_BIT(w, 7) && EK_BIT(w, 4))
        return EK_NEON_INT;         /* one register and a modified immediate (VMOV/VORR/VBIC imm) */
    if (EK_BIT(w, 4)) {
        /* two registers and a shift amount; VCVT fixed <-> float when bits 11:9 = 111 */
        return EK_BITS(w, 11, 9) == 7 ? EK_NEON_FLOAT : EK_NEON_INT;
    }
    if (EK_BITS(w, 21, 20) != 3) {
        if (!EK_BIT(w, 6))
            return EK_NEON_INT;     /* three registers of different lengths (VMULL, VMLAL, VADDL ...) */
        /* two registers and a scalar: VMLA/VMLS/VMUL by scalar are float when A in {0001,0101,1001} */
        a = EK_BITS(w, 11, 8);
        return (a == 0x1 || a == 0x5 || a == 0x9) ? EK_NEON_FLOAT : EK_NEON_INT;
    }
    if (!EK_BIT(w, 24))
        return EK_NEON_INT;         /* VEXT */
    if (EK_BIT(w, 11))
        return EK_NEON_INT;         /* VTBL/VTBX, VDUP (scalar) */
    /* two registers, miscellaneous: A = bits 17:16, B = bits 10:6 */
    a = EK_BITS(w, 17, 16);
    b = EK_BITS(w, 10, 6);
    if (a == 1)
        return EK_BIT(w, 10) ? EK_NEON_FLOAT : EK_NEON_INT;   /* VCEQ/VCGT/VABS/VNEG #0 (.F32 when F) */
    if (a == 2)
        return (b == 0x18 || b == 0x1C) ? EK_NEON_FLOAT : EK_NEON_INT;  /* VCVT F16<->F32 */
    if (a == 3) {
        if ((b & 0x18) == 0x18)
            return EK_NEON_FLOAT;   /* VCVT float <-> integer */
        if ((b & 0x1A) == 0x10 || (b & 0x1A) == 0x12)
            return EK_BIT(w, 8) ? EK_NEON_FLOAT : EK_NEON_INT;   /* VRECPE / VRSQRTE */
    }
    return EK_NEON_INT;
}

/* Coprocessor space in A32 form (bits 27:25 = 110 or 111, condition ignored). */
static inline int ek_coproc(uint32_t w)
{
    uint32_t cp = EK_BITS(w, 11, 8);
    int simd_fp = (cp == 10 || cp == 11);
    if (EK_BITS(w, 27, 25) == 6) {
        if (EK_BITS(w, 24, 21) == 2)  /* 64-bit transfers: VMOV two core registers <-> D / 2 S */
            return simd_fp ? EK_VFP : EK_OTHER;
        if (EK_BITS(w, 24, 21) == 0)
            return EK_OTHER;
        return simd_fp ? EK_SIMD_LDST : EK_LDST;   /* VLDR/VSTR/VLDM/VSTM/VPUSH/VPOP ; LDC/STC */
    }
    /* 111: bit 24 = 1 is SVC in A32 (handled by the caller) */
    if (!simd_fp)
        return EK_OTHER;            /* MRC/MCR p15 (TLS), CDP */
    if (!EK_BIT(w, 4))
        return EK_VFP;              /* VFP data processing: VADD/VMUL/VMLA/VFMA/VDIV/VSQRT/VCVT/VCMP/VMOV imm */
    /* 8, 16 and 32-bit transfers between core and extension registers */
    if (EK_BIT(w, 8) && !EK_BIT(w, 20) && EK_BIT(w, 23))
        return EK_NEON_INT;         /* VDUP (core register) */
    return EK_VFP;                  /* VMOV core <-> S / scalar, VMRS/VMSR */
}

static inline int ek_classify_a32(uint32_t w)
{
    uint32_t cond = EK_BITS(w, 31, 28);
    uint32_t op1 = EK_BITS(w, 27, 25);
    uint32_t rd = EK_BITS(w, 15, 12);

    if (cond == 0xF) {
        if (op1 == 1)
            return ek_neon_dp(w);
        if ((w & 0xFFFFFF00u) == 0xF57FF000u)
            return EK_OTHER;        /* CLREX, DSB, DMB, ISB */
        if (EK_BITS(w, 27, 24) == 4 && !EK_BIT(w, 20))
            return EK_SIMD_LDST;    /* VLDn/VSTn */
        if (op1 == 5)
            return EK_BRANCH;       /* BLX (immediate) */
        if (EK_BITS(w, 27, 26) == 1 && EK_BIT(w, 20) && EK_BIT(w, 22) == 1 && EK_BITS(w, 15, 12) == 0xF)
            return EK_LDST;         /* PLD / PLI */
        if ((EK_BITS(w, 27, 24) == 5 || EK_BITS(w, 27, 24) == 7) && EK_BIT(w, 20) && EK_BIT(w, 22) == 0)
            return EK_LDST;         /* PLDW */
        return EK_OTHER;            /* barriers, CLREX, CPS, SETEND, SRS/RFE, *2 coprocessor */
    }
    switch (op1) {
    case 0:
    case 1:
        if (op1 == 0 && EK_BIT(w, 4) && EK_BIT(w, 7)) {
            uint32_t op = EK_BITS(w, 6, 5);
            if (op == 0) {
                if (EK_BITS(w, 24, 24) == 0)
                    return EK_MUL;  /* MUL/MLA/MLS/UMULL/UMLAL/SMULL/SMLAL/UMAAL */
                return EK_LDST;     /* SWP, LDREX/STREX family */
            }
            return EK_LDST;         /* LDRH/STRH/LDRSB/LDRSH/LDRD/STRD */
        }
        if (EK_BITS(w, 24, 23) == 2 && !EK_BIT(w, 20)) {
            if (op1 == 1)
                return EK_ALU;      /* MOVW/MOVT, MSR (immediate), hints */
            /* miscellaneous */
            if (EK_BIT(w, 7) && !EK_BIT(w, 4))
                return EK_MUL;      /* SMLAxy/SMULxy/SMLAWy/SMULWy/SMLALxy */
            switch (EK_BITS(w, 6, 4)) {
            case 1:
                return EK_BITS(w, 22, 21) == 1 ? EK_BRANCH : EK_ALU;  /* BX ; CLZ */
            case 2:
                return EK_BRANCH;   /* BXJ */
            case 3:
                return EK_BRANCH;   /* BLX (register) */
            case 7:
                return EK_OTHER;    /* BKPT, HVC, SMC */
            default:
                return EK_ALU;      /* MRS/MSR, QADD/QSUB ... */
            }
        }
        /* data processing (immediate / register / register-shifted register) */
        if (rd == 15 && EK_BITS(w, 24, 23) != 2)
            return EK_BRANCH;       /* writes the PC: MOV pc, lr / ADD pc, ... */
        return EK_ALU;
    case 2:
        return (EK_BIT(w, 20) && rd == 15) ? EK_BRANCH : EK_LDST;   /* LDR pc, [...] */
    case 3:
        if (!EK_BIT(w, 4))
            return (EK_BIT(w, 20) && rd == 15) ? EK_BRANCH : EK_LDST;
        /* media instructions */
        if (EK_BITS(w, 24, 23) == 2)
            return EK_MUL;          /* signed multiplies (SMLAD, SMMUL ...), SDIV/UDIV */
        if (EK_BITS(w, 24, 20) == 0x18)
            return EK_MUL;          /* USAD8 / USADA8 */
        if (EK_BITS(w, 24, 20) == 0x1F && EK_BITS(w, 7, 5) == 7)
            return EK_OTHER;        /* UDF */
        return EK_ALU;              /* parallel add/sub, pack/saturate/reverse, bitfield */
    case 4:
        if (EK_BIT(w, 20) && EK_BIT(w, 15))
            return EK_BRANCH;       /* LDM / POP with the PC in the list */
        return EK_LDST;
    case 5:
        return EK_BRANCH;           /* B / BL */
    case 6:
        return ek_coproc(w);
    default:
        if (EK_BIT(w, 24))
            return EK_OTHER;        /* SVC */
        return ek_coproc(w);
    }
}

static inline int ek_classify_t16(uint32_t h)
{
    uint32_t top6 = EK_BITS(h, 15, 10);
    if ((top6 & 0x30) == 0)
        return EK_ALU;              /* shift (imm), add, sub, mov, cmp */
    if (top6 == 0x10)
        return EK_BITS(h, 9, 6) == 0xD ? EK_MUL : EK_ALU;   /* data processing; MUL */
    if (top6 == 0x11) {
        if (EK_BITS(h, 9, 8) == 3)
            return EK_BRANCH;       /* BX / BLX */
        if (EK_BITS(h, 9, 8) != 1 && EK_BIT(h, 7) && EK_BITS(h, 2, 0) == 7)
            return EK_BRANCH;       /* ADD/MOV pc, Rm */
        return EK_ALU;
    }
    if ((top6 & 0x3E) == 0x12)
        return EK_LDST;             /* LDR (literal) */
    if ((top6 & 0x3C) == 0x14 || (top6 & 0x38) == 0x18 || (top6 & 0x38) == 0x20)
        return EK_LDST;             /* load/store single data item */
    if ((top6 & 0x3C) == 0x28)
        return EK_ALU;              /* ADR, ADD (SP plus immediate) */
    if ((top6 & 0x3C) == 0x2C) {
        /* miscellaneous 16-bit instructions */
        uint32_t op = EK_BITS(h, 11, 5);
        if ((h & 0xF500) == 0xB100)
            return EK_BRANCH;       /* CBZ / CBNZ */
        if ((op & 0x70) == 0x20)
            return EK_LDST;         /* PUSH */
        if ((op & 0x70) == 0x60)
            return EK_BIT(h, 8) ? EK_BRANCH : EK_LDST;   /* POP {.., pc} ; POP */
        if ((op & 0x78) == 0x70)
            return EK_OTHER;        /* BKPT */
        if ((op & 0x78) == 0x78)
            return EK_ALU;          /* IT, hints */
        if (op == 0x33)
            return EK_OTHER;        /* CPS */
        return EK_ALU;              /* ADD/SUB SP, SXTH/UXTB..., REV */
    }
    if ((top6 & 0x3C) == 0x30)
        return EK_LDST;             /* STM / LDM */
    if ((top6 & 0x3C) == 0x34) {
        uint32_t c = EK_BITS(h, 11, 8);
        if (c == 0xF || c == 0xE)
            return EK_OTHER;        /* SVC, UDF */
        return EK_BRANCH;           /* B<c> */
    }
    if ((top6 & 0x3E) == 0x38)
        return EK_BRANCH;           /* B */
    return EK_OTHER;                /* 32-bit prefixes never reach here */
}

static inline int ek_classify_t32(uint32_t w)
{
    uint32_t op1 = EK_BITS(w, 28, 27);
    uint32_t op2 = EK_BITS(w, 26, 20);
    uint32_t rt = EK_BITS(w, 15, 12);

    if ((w & 0xEF000000u) == 0xEF000000u)   /* Advanced SIMD data processing: 111U 1111 */
        return ek_neon_dp(0xF2000000u | (EK_BIT(w, 28) << 24) | (w & 0x00FFFFFFu));
    if ((w & 0xFF100000u) == 0xF9000000u)   /* Advanced SIMD element / structure load/store */
        return EK_SIMD_LDST;
    if ((w & 0xEC000000u) == 0xEC000000u)   /* coprocessor, VFP: same bits as A32 with cond 1110 */
        return ek_coproc(0xE0000000u | (w & 0x0FFFFFFFu));
    if (op1 == 1) {
        if ((op2 & 0x64) == 0x00)           /* load/store multiple */
            return (EK_BIT(w, 20) && EK_BIT(w, 15)) ? EK_BRANCH : EK_LDST;
        if ((op2 & 0x64) == 0x04) {         /* load/store dual, exclusive; table branch */
            if ((w & 0xFFF0FFE0u) == 0xE8D0F000u)
                return EK_BRANCH;           /* TBB / TBH */
            return EK_LDST;
        }
        return EK_ALU;                      /* data processing (shifted register) */
    }
    if (op1 == 2) {
        if (!EK_BIT(w, 15))
            return EK_ALU;                  /* data processing (modified / plain immediate) */
        /* branches and miscellaneous control */
        if (EK_BIT(w, 12) || EK_BIT(w, 14))
            return EK_BRANCH;               /* B.W, BL, BLX */
        if (EK_BITS(w, 25, 23) != 7)
            return EK_BRANCH;               /* B<c>.W */
        if (EK_BITS(w, 26, 20) == 0x3A)
            return EK_ALU;                  /* hints (NOP.W ...) */
        if (EK_BITS(w, 26, 20) == 0x3C)
            return EK_BRANCH;               /* BXJ */
        if (EK_BITS(w, 26, 20) == 0x3D)
            return EK_BRANCH;               /* SUBS PC, LR */
        return EK_OTHER;                    /* MSR/MRS, barriers, CLREX, SMC, UDF */
    }
    /* op1 == 3 */
    if ((op2 & 0x71) == 0x00)
        return EK_LDST;                     /* store single data item */
    if ((op2 & 0x67) == 0x01 || (op2 & 0x67) == 0x03)
        return EK_LDST;                     /* load byte / halfword, preload */
    if ((op2 & 0x67) == 0x05)
        return rt == 15 ? EK_BRANCH : EK_LDST;   /* LDR (LDR pc = jump) */
    if ((op2 & 0x70) == 0x20)
        return EK_ALU;                      /* data processing (register) */
    if ((op2 & 0x78) == 0x30)
        return EK_MUL;                      /* multiply, multiply accumulate, absolute difference */
    if ((op2 & 0x78) == 0x38)
        return EK_MUL;                      /* long multiply, divide */
    return EK_OTHER;
}

/* Is this halfword the first half of a 32-bit Thumb instruction? */
static inline int ek_t32_prefix(uint32_t h)
{
    return EK_BITS(h, 15, 11) >= 0x1D;
}

/*
 * Classify from the bytes qemu reports. size 2: T16. size 4 and thumb: T32 (two little-endian
 * halfwords, first at the lower address). size 4 and not thumb: one little-endian A32 word.
 */
static inline int ek_classify_bytes(const uint8_t *d, unsigned size, int thumb)
{
    if (size == 2)
        return ek_classify_t16((uint32_t)d[0] | ((uint32_t)d[1] << 8));
    if (size != 4)
        return EK_OTHER;
    if (thumb) {
        uint32_t h1 = (uint32_t)d[0] | ((uint32_t)d[1] << 8);
        uint32_t h2 = (uint32_t)d[2] | ((uint32_t)d[3] << 8);
        return ek_classify_t32((h1 << 16) | h2);
    }
    return ek_classify_a32((uint32_t)d[0] | ((uint32_t)d[1] << 8) | ((uint32_t)d[2] << 16) | ((uint32_t)d[3] << 24));
}

#endif
