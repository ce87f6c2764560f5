// tests/test_fileio.c — atomic write/commit/abort (no temp file left behind), read_file, mkdir_p,
// remove_tree, replace_dir, path helpers.
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/check.h"
#include "util/fileio.h"

static char *make_tmpdir(void) {
    const char *base = getenv("RLHF_TEST_TMP");
    char tmpl[512];
    snprintf(tmpl, sizeof tmpl, "%s/fileio.XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    if (!d) {
        perror("mkdtemp");
        exit(1);
    }
    return xstrdup(d);
}

// Number of entries in dir whose name contains `part`.
static int count_entries(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strstr(de->d_name, part)) n++;
    closedir(d);
    return n;
}

static int file_is(const char *path, const char *want) {
    char *data;
    size_t n;
    Err e;
    if (read_file(path, &data, &n, &e) != 0) return 0;
    int ok = n == strlen(want) && memcmp(data, want, n) == 0;
    free(data);
    return ok;
}

static void write_plain(const char *path, const char *s) {
    FILE *fp = fopen(path, "wb");
    fputs(s, fp);
    fclose(fp);
}

int main(void) {
    char *dir = make_tmpdir();
    Err e;

    // path_join
    {
        char *p = path_join("a", "b");
        CHECK(strcmp(p, "a/b") == 0, "path_join: %s", p);
        free(p);
        p = path_join("a/", "b");
        CHECK(strcmp(p, "a/b") == 0, "path_join trailing slash: %s", p);
        free(p);
        p = path_join("", "b");
        CHECK(strcmp(p, "b") == 0, "path_join empty: %s", p);
        free(p);
    }

    // atomic open + commit
    char *f1 = path_join(dir, "out.txt");
    {
        AtomicFile af;
        CHECK(atomic_open(&af, f1, &e) == 0, "atomic_open: %s", e.msg);
        CHECK(af.tmp_path && strstr(af.tmp_path, ".tmp."), "temp name %s", af.tmp_path);
        char pidbuf[32];
        snprintf(pidbuf, sizeof pidbuf, ".tmp.%ld", (long)getpid());
        CHECK(strstr(af.tmp_path, pidbuf) != NULL, "temp name has the pid: %s", af.tmp_path);
        fputs("hello ", af.fp);
        fputs("world", af.fp);
        CHECK(!path_exists(f1), "final file must not exist before commit");
        CHECK(count_entries(dir, ".tmp.") == 1, "temp file exists while writing");
        CHECK(atomic_commit(&af, &e) == 0, "atomic_commit: %s", e.msg);
        CHECK(af.fp == NULL && af.path == NULL && af.tmp_path == NULL, "commit frees the struct");
        CHECK(file_is(f1, "hello world"), "committed content");
        CHECK(count_entries(dir, ".tmp.") == 0, "no temp file after commit");
    }

    // abort keeps the old file and removes the temp
    {
        AtomicFile af;
        CHECK(atomic_open(&af, f1, &e) == 0, "atomic_open: %s", e.msg);
        fputs("garbage that must not land", af.fp);
        atomic_abort(&af);
        CHECK(file_is(f1, "hello world"), "abort leaves the old content");
        CHECK(count_entries(dir, ".tmp.") == 0, "no temp file after abort");
        char *f2 = path_join(dir, "never.txt");
        CHECK(atomic_open(&af, f2, &e) == 0, "atomic_open: %s", e.msg);
        atomic_abort(&af);
        CHECK(!path_exists(f2), "aborted new file does not appear");
        free(f2);
    }

    // atomic_write_file overwrites; binary with NULs
    {
        const char bin[] = {'a', 0, 'b', 0, 'c'};
        CHECK(atomic_write_file(f1, bin, sizeof bin, &e) == 0, "atomic_write_file: %s", e.msg);
        char *data;
        size_t n;
        CHECK(read_file(f1, &data, &n, &e) == 0, "read_file: %s", e.msg);
        CHECK(n == sizeof bin && memcmp(data, bin, n) == 0 && data[n] == 0,
              "binary round trip, NUL-terminated (n=%zu)", n);
        free(data);
        CHECK(count_entries(dir, ".tmp.") == 0, "no temp after atomic_write_file");
        CHECK(atomic_write_file(f1, "", 0, &e) == 0, "empty write: %s", e.msg);
        CHECK(read_file(f1, &data, &n, &e) == 0 && n == 0 && data[0] == 0, "empty file read");
        free(data);
    }

    // commit failure: the target is a non-empty folder, so rename fails; temp is removed
    {
        char *sub = path_join(dir, "occupied");
        CHECK(mkdir_p(sub, &e) == 0, "mkdir_p: %s", e.msg);
        char *inner = path_join(sub, "x");
        write_plain(inner, "x");
        AtomicFile af;
        CHECK(atomic_open(&af, sub, &e) == 0, "atomic_open: %s", e.msg);
        fputs("data", af.fp);
        int rc = atomic_commit(&af, &e);
        CHECK(rc == -1, "commit onto a folder must fail");
        CHECK(strstr(e.msg, sub) != NULL, "error names the path: %s", e.msg);
        CHECK(count_entries(dir, ".tmp.") == 0, "failed commit removes its temp file");
        CHECK(remove_tree(sub, &e) == 0, "remove_tree: %s", e.msg);
        free(inner);
        free(sub);
    }

    // atomic_open in a missing folder
    {
        char *bad = path_join(dir, "no/such/folder/file.txt");
        AtomicFile af;
        CHECK(atomic_open(&af, bad, &e) == -1, "atomic_open in missing folder must fail");
        CHECK(strstr(e.msg, bad) && strstr(e.msg, "No such file"), "message: %s", e.msg);
        CHECK(atomic_write_file(bad, "x", 1, &e) == -1, "atomic_write_file must fail");
        free(bad);
    }

    // read_file errors
    {
        char *missing = path_join(dir, "missing.txt");
        char *data = (char *)1;
        size_t n = 7;
        CHECK(read_file(missing, &data, &n, &e) == -1, "read_file of missing file");
        CHECK(data == NULL && n == 0, "outputs cleared on failure");
        CHECK(strstr(e.msg, missing) && strstr(e.msg, "No such file"), "message: %s", e.msg);
        CHECK(read_file(dir, &data, &n, &e) == -1, "read_file of a folder fails");
        CHECK(strstr(e.msg, dir) != NULL, "message names the folder: %s", e.msg);
        free(missing);
        // a larger file (several read chunks)
        char *big = path_join(dir, "big.bin");
        size_t bn = 300000;
        char *bd = xmalloc(bn);
        for (size_t i = 0; i < bn; i++) bd[i] = (char)(i * 7 + 3);
        CHECK(atomic_write_file(big, bd, bn, &e) == 0, "big write: %s", e.msg);
        CHECK(read_file(big, &data, &n, &e) == 0 && n == bn && memcmp(data, bd, bn) == 0,
              "big read");
        free(data);
        free(bd);
        free(big);
        // /proc files report size 0 but have content
        CHECK(read_file("/proc/self/status", &data, &n, &e) == 0 && n > 0 &&
                  strstr(data, "VmHWM") != NULL,
              "read /proc/self/status: %s", e.msg);
        free(data);
    }

    // mkdir_p, path_exists, is_dir
    {
        char *deep = path_join(dir, "a/b/c/d");
        CHECK(mkdir_p(deep, &e) == 0, "mkdir_p: %s", e.msg);
        CHECK(is_dir(deep), "deep folder exists");
        CHECK(mkdir_p(deep, &e) == 0, "mkdir_p again is fine: %s", e.msg);
        char *slash = path_join(dir, "a/b/e/");
        CHECK(mkdir_p(slash, &e) == 0, "mkdir_p trailing slash: %s", e.msg);
        CHECK(is_dir(slash), "trailing-slash folder exists");
        char *file = path_join(dir, "a/file");
        write_plain(file, "x");
        CHECK(path_exists(file) && !is_dir(file), "path_exists/is_dir on a file");
        char *under = path_join(dir, "a/file/sub");
        CHECK(mkdir_p(under, &e) == -1, "mkdir_p under a file fails");
        CHECK(strstr(e.msg, under) != NULL, "message names the path: %s", e.msg);
        CHECK(mkdir_p(file, &e) == -1, "mkdir_p on an existing file fails");
        CHECK(mkdir_p("", &e) == -1, "mkdir_p of empty path fails");
        char *rel_before = getcwd(NULL, 0);
        CHECK(chdir(dir) == 0, "chdir");
        CHECK(mkdir_p("rel/x", &e) == 0 && is_dir("rel/x"), "relative mkdir_p: %s", e.msg);
        CHECK(chdir(rel_before) == 0, "chdir back");
        free(rel_before);
        // remove_tree
        char *a = path_join(dir, "a");
        CHECK(remove_tree(a, &e) == 0, "remove_tree: %s", e.msg);
        CHECK(!path_exists(a), "tree removed");
        CHECK(remove_tree(a, &e) == 0, "remove_tree of missing path is 0");
        free(a);
        free(deep);
        free(slash);
        free(file);
        free(under);
    }

    // replace_dir
    {
        char *src = path_join(dir, "new.ckpt");
        char *dst = path_join(dir, "ckpt");
        char *srcf = path_join(src, "model.bin");
        char *dstf = path_join(dst, "model.bin");
        char *dsto = path_join(dst, "old-only.txt");
        CHECK(mkdir_p(src, &e) == 0, "mkdir: %s", e.msg);
        write_plain(srcf, "v1");
        CHECK(replace_dir(src, dst, &e) == 0, "replace_dir to a new name: %s", e.msg);
        CHECK(!path_exists(src) && file_is(dstf, "v1"), "moved into place");
        write_plain(dsto, "old");
        CHECK(mkdir_p(src, &e) == 0, "mkdir: %s", e.msg);
        write_plain(srcf, "v2");
        CHECK(replace_dir(src, dst, &e) == 0, "replace_dir over an existing one: %s", e.msg);
        CHECK(file_is(dstf, "v2") && !path_exists(dsto), "old folder replaced entirely");
        CHECK(count_entries(dir, ".old.") == 0, "no .old folder left behind");
        CHECK(!path_exists(src), "src gone");
        CHECK(replace_dir(src, dst, &e) == -1, "replace_dir from a missing src fails");
        CHECK(strstr(e.msg, src) != NULL, "message names src: %s", e.msg);
        CHECK(file_is(dstf, "v2"), "dst intact after a failed replace");
        free(src);
        free(dst);
        free(srcf);
        free(dstf);
        free(dsto);
    }

    CHECK(remove_tree(dir, &e) == 0, "cleanup: %s", e.msg);
    CHECK(!path_exists(dir), "cleanup done");
    free(f1);
    free(dir);
    return check_summary("test_fileio");
}
