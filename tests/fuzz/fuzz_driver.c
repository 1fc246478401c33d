/*
 * A main for fuzz targets in builds without libFuzzer: runs the target
 * once over each file named on the command line (a corpus or crash
 * reproducers), so every configuration builds the targets and a test
 * replays a corpus through them under the sanitizers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int main(int argc, char **argv)
{
    int failures = 0;
    for (int index = 1; index < argc; index++) {
        FILE *file = fopen(argv[index], "rb");
        if (!file) {
            fprintf(stderr, "fuzz_driver: cannot open %s\n", argv[index]);
            failures++;
            continue;
        }
        fseek(file, 0, SEEK_END);
        long size = ftell(file);
        fseek(file, 0, SEEK_SET);
        uint8_t *data = malloc(size > 0 ? (size_t)size : 1);
        if (!data || fread(data, 1, (size_t)size, file) != (size_t)size) {
            fprintf(stderr, "fuzz_driver: cannot read %s\n", argv[index]);
            failures++;
        } else
            LLVMFuzzerTestOneInput(data, (size_t)size);
        free(data);
        fclose(file);
    }
    printf("fuzz_driver: %d inputs replayed\n", argc - 1);
    return failures ? 1 : 0;
}
