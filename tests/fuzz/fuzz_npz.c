/*
 * tests/fuzz/fuzz_npz.c — fuzz target for the .npz / .npy reader (nn/npy.c).
 *
 * hq_fuzz_npz() opens the input as an .npz archive, reads every member raw and converted
 * to float32 and int32, asks for a member that does not exist, and parses the input as a
 * bare .npy image. Built with -DHQ_FUZZ_MAIN it is a libFuzzer target (`make fuzz`);
 * without, the test suite replays the saved corpus through it (npz_fuzz_corpus_replay).
 */
#include <stddef.h>
#include <stdint.h>

#include "nn/npy.h"

int hq_fuzz_npz(const uint8_t *data, size_t size);

int hq_fuzz_npz(const uint8_t *data, size_t size) {
    hq_npz *z = NULL;
    if (hq_npz_open_buffer(data, size, "fuzz.npz", &z) == HQ_OK) {
        /* bound the work per input: a member may not inflate past 8 MiB */
        hq_npz_set_max_member(z, (uint64_t)8 << 20);
        for (int i = 0; i < hq_npz_count(z); i++) {
            const char *name = hq_npz_name(z, i);
            hq_npy_array a;
            if (hq_npz_read(z, name, &a) == HQ_OK) hq_npy_array_free(&a);
            if (hq_npz_read_f32(z, name, &a) == HQ_OK) hq_npy_array_free(&a);
            if (hq_npz_read_i32(z, name, &a) == HQ_OK) hq_npy_array_free(&a);
            (void)hq_npz_member_size(z, i);
        }
        hq_npy_array none;
        (void)hq_npz_read(z, "no such member", &none);
        hq_npz_free(z);
    }
    hq_npy_array a;
    if (hq_npy_parse(data, size, "fuzz.npy", &a) == HQ_OK) {
        char sh[64];
        hq_npy_shape_str(&a, sh, sizeof sh);
        hq_npy_array_free(&a);
    }
    hq_clear_error();
    return 0;
}

#ifdef HQ_FUZZ_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return hq_fuzz_npz(data, size); }
#endif
