/*
 * Replays fuzz corpora without a fuzz engine: every file under the directories
 * (or the files) named on the command line goes through LLVMFuzzerTestOneInput
 * once. Under ctest this runs in the sanitizer build too, so a crash, a leak or
 * undefined behaviour on any corpus input fails the build.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        perror(path);
        return -1;
    }
    fseek(fp, 0, SEEK_END);
    long len = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    /* An exactly-sized heap copy, so ASan sees any read past the input. */
    uint8_t *data = malloc(len > 0 ? (size_t)len : 1);
    if (!data || (len > 0 && fread(data, 1, (size_t)len, fp) != (size_t)len)) {
        fclose(fp);
        free(data);
        return -1;
    }
    fclose(fp);
    LLVMFuzzerTestOneInput(data, (size_t)len);
    free(data);
    return 0;
}

int main(int argc, char **argv)
{
    int files = 0, errors = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(st.st_mode)) {
            errors += replay_file(argv[i]) != 0;
            files++;
            continue;
        }
        DIR *dir = opendir(argv[i]);
        struct dirent *de;
        while (dir && (de = readdir(dir))) {
            if (de->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
            errors += replay_file(path) != 0;
            files++;
        }
        if (dir)
            closedir(dir);
    }
    fprintf(stderr, "replayed %d inputs, %d unreadable\n", files, errors);
    return files > 0 && errors == 0 ? 0 : 1;
}
