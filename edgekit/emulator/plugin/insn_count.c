/*
 * edgekit insn_count: a qemu TCG plugin (linux-user, ARM guests) counting executed guest
 * instructions by class, with guest-set phase marks.
 *
 *   qemu-arm -L ROOTFS -cpu cortex-a7 -plugin insn_count.so,out=FILE[,mark=NR] PROGRAM ...
 *
 * - Every instruction is classified once, at translation time, from its A32/T32/T16 encoding
 *   (classify.h); each translated block gets one inline "add N" per class present in it, so
 *   execution costs a few host instructions per block and no callbacks.
 * - The guest marks phases with a syscall that does not exist (number NR, default 0xEDC0):
 *   `syscall(NR, tag, index)`. The plugin's syscall callback appends the running counts to FILE
 *   with write(2) right away, so the marks survive the guest being killed. qemu then answers the
 *   unknown syscall with ENOSYS, which the guest ignores.
 * - FILE (text, one record per line):
 *     edgekit-insn-count 1 classes=alu,mul,... mark=NR
 *     mark TAG INDEX TOTAL C0 C1 ... C8 thumb=N     (N of TOTAL executed in Thumb state)
 *     exit TOTAL C0 ... C8 thumb=N tbs=T ambiguous=A thumb_by_disas=B heuristic=H ties=X
 *
 * Thumb or ARM? A block with a 16-bit instruction or starting at an address that is 2 mod 4 is
 * Thumb. Otherwise (every instruction 32 bits, word aligned) the block is disassembled by qemu,
 * which knows the CPU state, and compared with capstone's Thumb reading of the same bytes
 * (capstone is already loaded by qemu-arm; looked up with dlsym). Without capstone a prefix
 * heuristic decides.
 *
 * Written against qemu's plugin API version 1 (qemu 7.2, Debian bookworm's qemu-user); no header
 * ships with that package, so the few declarations used are below.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "classify.h"

/* ---- qemu plugin API (version 1) declarations ------------------------------------------------ */
#define QEMU_PLUGIN_EXPORT __attribute__((visibility("default")))
typedef uint64_t qemu_plugin_id_t;
typedef struct qemu_info_t {
    const char *target_name;
    struct { int min; int cur; } version;
    bool system_emulation;
    union { struct { int smp_vcpus; int max_vcpus; } system; };
} qemu_info_t;
struct qemu_plugin_tb;
struct qemu_plugin_insn;
enum qemu_plugin_op { QEMU_PLUGIN_INLINE_ADD_U64 };
typedef void (*qemu_plugin_vcpu_tb_trans_cb_t)(qemu_plugin_id_t id, struct qemu_plugin_tb *tb);
typedef void (*qemu_plugin_vcpu_syscall_cb_t)(qemu_plugin_id_t id, unsigned int vcpu_index, int64_t num,
                                              uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
                                              uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8);
typedef void (*qemu_plugin_udata_cb_t)(qemu_plugin_id_t id, void *userdata);

void qemu_plugin_register_vcpu_tb_trans_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_tb_trans_cb_t cb);
void qemu_plugin_register_vcpu_tb_exec_inline(struct qemu_plugin_tb *tb, enum qemu_plugin_op op,
                                              void *ptr, uint64_t imm);
void qemu_plugin_register_vcpu_syscall_cb(qemu_plugin_id_t id, qemu_plugin_vcpu_syscall_cb_t cb);
void qemu_plugin_register_atexit_cb(qemu_plugin_id_t id, qemu_plugin_udata_cb_t cb, void *userdata);
size_t qemu_plugin_tb_n_insns(const struct qemu_plugin_tb *tb);
uint64_t qemu_plugin_tb_vaddr(const struct qemu_plugin_tb *tb);
struct qemu_plugin_insn *qemu_plugin_tb_get_insn(const struct qemu_plugin_tb *tb, size_t idx);
const void *qemu_plugin_insn_data(const struct qemu_plugin_insn *insn);
size_t qemu_plugin_insn_size(const struct qemu_plugin_insn *insn);
uint64_t qemu_plugin_insn_vaddr(const struct qemu_plugin_insn *insn);
char *qemu_plugin_insn_disas(const struct qemu_plugin_insn *insn);

QEMU_PLUGIN_EXPORT int qemu_plugin_version = 1;

/* ---- capstone 4 (only what the Thumb/ARM decision needs) ----------------------------------- */
typedef size_t csh;
typedef struct cs_insn_v4 {
    unsigned int id;
    uint64_t address;
    uint16_t size;
    uint8_t bytes[16];
    char mnemonic[32];
    char op_str[160];
    void *detail;
} cs_insn_v4;
typedef int (*cs_open_t)(int arch, int mode, csh *handle);
typedef size_t (*cs_disasm_t)(csh handle, const uint8_t *code, size_t size, uint64_t address, size_t count,
                              cs_insn_v4 **insn);
typedef void (*cs_free_t)(cs_insn_v4 *insn, size_t count);
#define CS_ARCH_ARM 0
#define CS_MODE_THUMB (1 << 4)

static cs_disasm_t cs_disasm_fn;
static cs_free_t cs_free_fn;
static csh cs_thumb, cs_arm;
static int have_capstone;

/* ---- state ----------------------------------------------------------------------------------- */
static uint64_t counts[EK_NCLASSES] __attribute__((aligned(64)));
static uint64_t thumb_count;   /* of those, executed in Thumb state */
static int out_fd = -1;
static int64_t mark_nr = 0xEDC0;
static uint64_t n_tbs, n_ambiguous, n_thumb_by_disas, n_heuristic, n_ties;

static void write_all(const char *buf, size_t len)
{
    while (len > 0 && out_fd >= 0) {
        ssize_t n = write(out_fd, buf, len);
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t)n;
    }
}

static int format_counts(char *buf, size_t cap)
{
    uint64_t total = 0;
    int n, off;
    for (int i = 0; i < EK_NCLASSES; i++)
        total += counts[i];
    off = snprintf(buf, cap, "%" PRIu64, total);
    for (int i = 0; i < EK_NCLASSES && off < (int)cap; i++) {
        n = snprintf(buf + off, cap - off, " %" PRIu64, counts[i]);
        off += n;
    }
    if (off < (int)cap)
        off += snprintf(buf + off, cap - off, " thumb=%" PRIu64, thumb_count);
    return off;
}

/* Decide whether a block whose instructions are all 32 bits wide is Thumb. */
static int block_is_thumb(const struct qemu_plugin_tb *tb, size_t n)
{
    struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, 0);
    const uint8_t *d = qemu_plugin_insn_data(insn);
    n_ambiguous++;
    if (have_capstone) {
        char *q = qemu_plugin_insn_disas(insn);
        cs_insn_v4 *ci = NULL;
        int thumb = 0;
        size_t got = cs_disasm_fn(cs_thumb, d, 4, qemu_plugin_insn_vaddr(insn), 1, &ci);
        if (q && got == 1 && ci[0].size == 4) {
            char mine[200];
            snprintf(mine, sizeof mine, "%s %s", ci[0].mnemonic, ci[0].op_str);
            thumb = strcmp(mine, q) == 0;
        }
        if (thumb) {  /* would the ARM reading print the same? (then the choice is a guess) */
            cs_insn_v4 *ca = NULL;
            size_t ga = cs_disasm_fn(cs_arm, d, 4, qemu_plugin_insn_vaddr(insn), 1, &ca);
            if (ga == 1) {
                char arm[200];
                snprintf(arm, sizeof arm, "%s %s", ca[0].mnemonic, ca[0].op_str);
                n_ties += strcmp(arm, q) == 0;
            }
            if (ga)
                cs_free_fn(ca, ga);
        }
        if (got)
            cs_free_fn(ci, got);
        free(q);
        if (q) {
            n_thumb_by_disas += thumb;
            return thumb;
        }
    }
    /* heuristic: every instruction starts with a 32-bit Thumb prefix halfword */
    n_heuristic++;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *b = qemu_plugin_insn_data(qemu_plugin_tb_get_insn(tb, i));
        if (!ek_t32_prefix((uint32_t)b[0] | ((uint32_t)b[1] << 8)))
            return 0;
    }
    return 1;
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
    size_t n = qemu_plugin_tb_n_insns(tb);
    uint64_t per[EK_NCLASSES] = {0};
    int thumb = (qemu_plugin_tb_vaddr(tb) & 2) != 0;
    (void)id;
    n_tbs++;
    for (size_t i = 0; i < n && !thumb; i++)
        if (qemu_plugin_insn_size(qemu_plugin_tb_get_insn(tb, i)) == 2)
            thumb = 1;
    if (!thumb && n > 0)
        thumb = block_is_thumb(tb, n);
    for (size_t i = 0; i < n; i++) {
        struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);
        per[ek_classify_bytes(qemu_plugin_insn_data(insn), (unsigned)qemu_plugin_insn_size(insn), thumb)]++;
    }
    for (int c = 0; c < EK_NCLASSES; c++)
        if (per[c])
            qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &counts[c], per[c]);
    if (thumb && n)
        qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64, &thumb_count, n);
}

static void on_syscall(qemu_plugin_id_t id, unsigned int vcpu, int64_t num, uint64_t a1, uint64_t a2,
                       uint64_t a3, uint64_t a4, uint64_t a5, uint64_t a6, uint64_t a7, uint64_t a8)
{
    char buf[512];
    int off;
    (void)id; (void)vcpu; (void)a3; (void)a4; (void)a5; (void)a6; (void)a7; (void)a8;
    if (num != mark_nr)
        return;
    off = snprintf(buf, sizeof buf, "mark %" PRIu64 " %" PRIu64 " ", (uint64_t)(uint32_t)a1, (uint64_t)(uint32_t)a2);
    off += format_counts(buf + off, sizeof buf - off - 2);
    buf[off++] = '\n';
    write_all(buf, (size_t)off);
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
    char buf[512];
    int off;
    (void)id; (void)p;
    off = snprintf(buf, sizeof buf, "exit ");
    off += format_counts(buf + off, sizeof buf - off - 100);
    off += snprintf(buf + off, sizeof buf - off, " tbs=%" PRIu64 " ambiguous=%" PRIu64 " thumb_by_disas=%" PRIu64
                     " heuristic=%" PRIu64 " ties=%" PRIu64 "\n", n_tbs, n_ambiguous, n_thumb_by_disas, n_heuristic, n_ties);
    write_all(buf, (size_t)off);
    if (out_fd >= 0)
        close(out_fd);
    out_fd = -1;
}

static const char *arg_value(const char *arg, const char *key)
{
    size_t k = strlen(key);
    if (strncmp(arg, "arg=", 4) == 0)  /* old "arg=key=value" spelling */
        arg += 4;
    if (strncmp(arg, key, k) == 0 && arg[k] == '=')
        return arg + k + 1;
    return NULL;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id, const qemu_info_t *info, int argc, char **argv)
{
    const char *out = NULL, *v;
    char head[256];
    int off;
    cs_open_t cs_open_fn;

    if (info && info->target_name && strcmp(info->target_name, "arm") != 0) {
        fprintf(stderr, "insn_count: guest %s is not 32-bit ARM\n", info->target_name);
        return -1;
    }
    for (int i = 0; i < argc; i++) {
        if ((v = arg_value(argv[i], "out")))
            out = v;
        else if ((v = arg_value(argv[i], "mark")))
            mark_nr = strtoll(v, NULL, 0);
        else {
            fprintf(stderr, "insn_count: unknown argument %s (use out=FILE, mark=NR)\n", argv[i]);
            return -1;
        }
    }
    if (!out) {
        fprintf(stderr, "insn_count: out=FILE is required\n");
        return -1;
    }
    out_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (out_fd < 0) {
        perror("insn_count: open out");
        return -1;
    }
    cs_open_fn = (cs_open_t)dlsym(RTLD_DEFAULT, "cs_open");
    cs_disasm_fn = (cs_disasm_t)dlsym(RTLD_DEFAULT, "cs_disasm");
    cs_free_fn = (cs_free_t)dlsym(RTLD_DEFAULT, "cs_free");
    if (cs_open_fn && cs_disasm_fn && cs_free_fn && cs_open_fn(CS_ARCH_ARM, CS_MODE_THUMB, &cs_thumb) == 0
        && cs_open_fn(CS_ARCH_ARM, 0, &cs_arm) == 0)
        have_capstone = 1;
    off = snprintf(head, sizeof head, "edgekit-insn-count 1 classes=");
    for (int i = 0; i < EK_NCLASSES; i++)
        off += snprintf(head + off, sizeof head - off, "%s%s", i ? "," : "", ek_class_names[i]);
    off += snprintf(head + off, sizeof head - off, " mark=%" PRId64 " capstone=%d\n", mark_nr, have_capstone);
    write_all(head, (size_t)off);
    qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
    qemu_plugin_register_vcpu_syscall_cb(id, on_syscall);
    qemu_plugin_register_atexit_cb(id, at_exit, NULL);
    return 0;
}
