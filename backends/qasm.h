/*
 * backends/qasm.h — OpenQASM import into the circuit IR, and OpenQASM 2.0 / 3.0 export.
 *
 *     hq_circuit *c;
 *     if (hq_qasm_parse_file("bell.qasm", &c) != HQ_OK)
 *         fprintf(stderr, "%s\n", hq_last_error());   // "bell.qasm:7:1: unknown gate 'w'"
 *     hq_sbuf out = HQ_SBUF_INIT;
 *     hq_qasm_write(c, 3, 0, &out);                      // OpenQASM 3 text in out.p
 *     hq_sbuf_free(&out);
 *     hq_circuit_free(c);
 *
 * Import reads OpenQASM 2.0 completely (qelib1.inc built in, user gates inlined into gates
 * of the circuit table, opaque, registers and broadcasting, measure, reset, barrier, if)
 * and the OpenQASM 3 subset that hardware providers exchange (qubit/bit declarations,
 * physical qubits $k, stdgates.inc built in, gate definitions, `c[i] = measure q[j];`,
 * reset, barrier, `if (c == k)`, `input float[64] x;` parameters that become circuit
 * symbols of kind HQ_SYM_INPUT, in declaration order). The language, the limits and the
 * error format are described in docs/qasm.md.
 *
 * Errors: every rejected construct returns HQ_ERR_PARSE with hq_last_error() of the form
 * "FILE:LINE:COL: what is wrong / what was expected" (1-based line and byte column; for
 * errors inside an included file a trail "(included from FILE:LINE)" follows). Exceeding
 * one of the resource limits below returns HQ_ERR_BUDGET with the limit named. A parse
 * never leaves a partial circuit behind: *out is NULL on failure.
 *
 * Ownership: a parsed circuit belongs to the caller (hq_circuit_free). The writer appends
 * to a caller-owned hq_sbuf.
 */
#ifndef HQ_QASM_H
#define HQ_QASM_H

#include <stddef.h>
#include <stdint.h>

#include "backends/circuit.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ==== import =========================================================================== */

/* Default resource limits (used for every field of hq_qasm_options left at 0). */
#define HQ_QASM_DEFAULT_MAX_QUBITS        4096        /* qubits, and separately clbits */
#define HQ_QASM_DEFAULT_MAX_OPS           4000000     /* operations after gate expansion */
#define HQ_QASM_DEFAULT_MAX_INCLUDE_DEPTH 16          /* nested include files */
#define HQ_QASM_DEFAULT_MAX_GATE_DEPTH    64          /* nesting of gate definitions */
#define HQ_QASM_DEFAULT_MAX_EXPR_DEPTH    64          /* nesting of parameter expressions */
#define HQ_QASM_DEFAULT_MAX_BYTES         (64u << 20) /* bytes of one source file */
/* Options above these are lowered to them (recursion depth and counters stay safe). */
#define HQ_QASM_CAP_DEPTH         1000       /* max_gate_depth, max_expr_depth */
#define HQ_QASM_CAP_INCLUDE_DEPTH 64         /* max_include_depth */
#define HQ_QASM_CAP_BYTES         (1u << 30) /* max_bytes */

/* Parser options. Zero-initialise ({0}) and set what you need: 0 means "default". */
typedef struct hq_qasm_options {
    int version;             /* 0: from the `OPENQASM x.y;` header (3 if there is none, as
                                OpenQASM 3 allows); 2 or 3: parse as that version (a header
                                declaring another version is an error) */
    const char *include_dir; /* directory that relative includes of the main source are read
                                from; NULL: the file's directory (parse_file) or the current
                                directory (parse from a string) */
    int max_qubits;          /* limit on qubits, on classical bits and on input parameters
                                (each) */
    int64_t max_ops;         /* limit on the expansion work: operations emitted plus one per
                                user-gate call at every nesting level */
    int max_include_depth;   /* limit on nested includes */
    int max_gate_depth;      /* limit on the nesting of gate definitions */
    int max_expr_depth;      /* limit on the nesting of parentheses/operators in expressions */
    size_t max_bytes;        /* limit on the size of each source file */
    bool lenient;            /* accept a known defect of files in the wild (several QASMBench
                                circuits): a `measure` naming a register that was never
                                declared is dropped with a warning instead of rejected */
} hq_qasm_options;

/*
 * Parse an OpenQASM file with the default options.
 *   [in]  path  file to read; relative includes are resolved against its directory
 *   [out] out   the new circuit (caller frees), NULL on failure
 * Returns HQ_OK; HQ_ERR_NOT_FOUND if the file does not exist, HQ_ERR_IO if it cannot be
 * read; HQ_ERR_PARSE for invalid source (an include that is missing included);
 * HQ_ERR_BUDGET if a resource limit is exceeded (file size included); HQ_ERR_INVALID_ARG
 * for a NULL argument or a bad option; HQ_ERR_NOMEM.
 */
hq_status hq_qasm_parse_file(const char *path, hq_circuit **out);
/* Same with options (opt may be NULL). opt->include_dir overrides the file's directory. */
hq_status hq_qasm_parse_file_opt(const char *path, const hq_qasm_options *opt, hq_circuit **out);

/*
 * Parse OpenQASM source held in memory.
 *   [in]  src          len bytes of source (need not be NUL-terminated; may contain NULs,
 *                      which are rejected as invalid characters)
 *   [in]  filename     name used in error messages (NULL: "<string>")
 *   [in]  include_dir  directory for relative includes (NULL: current directory)
 *   [out] out          the new circuit (caller frees), NULL on failure
 * Returns as hq_qasm_parse_file.
 */
hq_status hq_qasm_parse_string(const char *src, size_t len, const char *filename,
                               const char *include_dir, hq_circuit **out);

/* hq_qasm_parse_string with options (opt may be NULL; opt->include_dir is used). */
hq_status hq_qasm_parse(const char *src, size_t len, const char *filename,
                        const hq_qasm_options *opt, hq_circuit **out);

/* ==== export =========================================================================== */

/* Writer flags. */
enum {
    /* OpenQASM 3 only. ISA output for transpiled circuits: physical qubits $k (qubit k of
     * the circuit is $k; no qubit declaration) and no gate definition for the IBM native
     * gates rz, sx, x, cx, cz, ecr — what IBM Runtime expects. */
    HQ_QASM_PHYSICAL = 1u << 0,
};

/*
 * Append the circuit as OpenQASM text to out.
 *   [in]  c        the circuit
 *   [in]  version  2 (OpenQASM 2.0 with qelib1.inc names) or 3 (OpenQASM 3.0 with
 *                  stdgates.inc names)
 *   [in]  flags    HQ_QASM_* bits
 *   [out] out      text is appended (the buffer is not reset)
 * Gates outside the target's standard library get a `gate` definition in the header.
 * Angles are printed so that they parse back to the same double (exact multiples of pi
 * as "3*pi/4"). Symbolic circuits: in version 3 every symbol becomes an
 * `input float[64] NAME;` parameter and angles are written as affine expressions; version
 * 2 has no parameters and returns HQ_ERR_UNSUPPORTED (bind the symbols first).
 * Returns HQ_OK; HQ_ERR_INVALID_ARG (bad version/flags, NULL); HQ_ERR_MISUSE (bad handle);
 * HQ_ERR_UNSUPPORTED (a circuit the target cannot express: symbols in version 2, a
 * classical register or symbol named like a keyword or a gate); HQ_ERR_NOMEM.
 */
hq_status hq_qasm_write(const hq_circuit *c, int version, unsigned flags, hq_sbuf *out);

#ifdef __cplusplus
}
#endif
#endif /* HQ_QASM_H */
