/*
 * backends/draw.h — draw a circuit as text (terminal, logs, docs) or as SVG (reports),
 * from one layout engine, deterministically: the same circuit always gives the same bytes.
 *
 *     hq_sbuf b = HQ_SBUF_INIT;
 *     hq_draw_text(c, 80, &b);          // width-bounded, wraps long circuits
 *     fputs(b.p, stdout);
 *     hq_sbuf_reset(&b);
 *     hq_draw_svg(c, &b);               // one <svg> element, no external resources
 *     hq_sbuf_free(&b);
 *
 * Layout (docs/study.md has the full rules and examples):
 *   - one horizontal wire per qubit (label "reg_i", or "reg" for a 1-qubit register) and
 *     one double wire per classical register (label: its name), in declaration order;
 *   - operations are placed left to right in columns; each op takes the earliest column
 *     after every earlier op that shares a wire in the vertical range it spans (for a
 *     measurement or a classical condition, down to its classical register), so ops on
 *     disjoint ranges share a column and order on every wire is kept;
 *   - symbols: gate boxes [H], [RY(π/2)], [U3(θ,φ,λ)]; controls ●; the X of CX / CCX ⊕;
 *     swap ×; other controlled gates ● + a box of the base gate ([P(λ)], [RZ(θ)], ...);
 *     non-controlled 2-qubit gates a box on each operand (ECR and MS, whose operand order
 *     matters, add ₀ / ₁); measure [M] with a double line ║ to its register, ╩ on the
 *     register and the bit index below; reset [|0>]; barrier ░; a classical condition a
 *     double line to its register, ■ on it and "=V" below; a quantum line │ joins the
 *     operands of a multi-qubit gate, crossing other qubits as ┼ (classical lines ╫, and
 *     other registers ╬);
 *   - angles: multiples of π/d (d <= 16) print as "π/2", "-3π/4"; other values with 4
 *     significant digits; affine symbolic angles as "0.5*w0+π"; IonQ gates (gpi, gpi2, ms)
 *     in turns as plain numbers.
 *
 * Ownership: output is appended to a caller's hq_sbuf. Errors: HQ_ERR_MISUSE for a bad
 * circuit handle, HQ_ERR_INVALID_ARG for a bad width or NULL out, HQ_ERR_NOMEM.
 */
#ifndef HQ_DRAW_H
#define HQ_DRAW_H

#include "backends/circuit.h"
#include "core/core.h"

#ifdef __cplusplus
extern "C" {
#endif

#define HQ_DRAW_MIN_WIDTH 20 /* smallest wrapping width hq_draw_text accepts */

/*
 * Text drawing, UTF-8 (box-drawing characters, each one terminal column wide). Lines have
 * no trailing spaces and end in '\n'. width = 0: one block, no wrapping; otherwise lines
 * are at most `width` columns (>= HQ_DRAW_MIN_WIDTH): columns that do not fit continue in
 * a further block, separated by an empty line, wires ending in "»" and resuming with "«".
 * A single column wider than the page overflows it on a block of its own.
 */
hq_status hq_draw_text(const hq_circuit *c, int width, hq_sbuf *out);

/*
 * SVG drawing: one self-contained <svg> element (xmlns, viewBox, width, height; text in
 * a monospace font; no scripts, no external references). Each operation is a
 * <g class="op" data-gate="NAME" data-col="K"> so tests and styles can find it.
 */
hq_status hq_draw_svg(const hq_circuit *c, hq_sbuf *out);

/* The short label of a gate as drawn ("H", "√X", "S†", "RZ(π/2)") for op i of c, into buf
 * (cap bytes, truncated with "…" if longer). HQ_ERR_INVALID_ARG if i is out of range. */
hq_status hq_draw_op_label(const hq_circuit *c, int64_t i, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif /* HQ_DRAW_H */
