/* The libFuzzer entry point every tests/fuzz/fuzz-NAME.c defines; replay.c
 * drives it over a corpus without libFuzzer. */
#ifndef PLMM_FUZZ_H
#define PLMM_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
