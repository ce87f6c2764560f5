// util/fileio.c — owns atomic file writes (temp + fsync + rename + fsync of the folder), whole-file
// reads and folder helpers (mkdir -p, recursive removal, folder replacement); see fileio.h.
#include "util/fileio.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static char *str_printf(const char *fmt, const char *a, long n) {
    int len = snprintf(NULL, 0, fmt, a, n);
    char *s = xmalloc((size_t)len + 1);
    snprintf(s, (size_t)len + 1, fmt, a, n);
    return s;
}

char *path_join(const char *a, const char *b) {
    size_t la = strlen(a);
    if (la == 0) return xstrdup(b);
    int slash = a[la - 1] != '/';
    size_t n = la + (size_t)slash + strlen(b) + 1;
    char *s = xmalloc(n);
    snprintf(s, n, "%s%s%s", a, slash ? "/" : "", b);
    return s;
}

// The folder that holds path ("." when path has no slash).
static char *parent_dir(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char *d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

static int fsync_dir(const char *dir, Err *e) {
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return err_set(e, "%s: cannot open folder to sync: %s", dir, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0 && errno != EINVAL && errno != EROFS)
        rc = err_set(e, "%s: fsync of folder failed: %s", dir, strerror(errno));
    close(fd);
    return rc;
}

static void af_free(AtomicFile *af) {
    free(af->path);
    free(af->tmp_path);
    af->path = af->tmp_path = NULL;
    af->fp = NULL;
}

int atomic_open(AtomicFile *af, const char *path, Err *e) {
    af->fp = NULL;
    af->path = xstrdup(path);
    af->tmp_path = str_printf("%s.tmp.%ld", path, (long)getpid());
    af->fp = fopen(af->tmp_path, "wb");
    if (!af->fp) {
        int en = errno;
        err_set(e, "%s: cannot create temporary file %s: %s", path, af->tmp_path, strerror(en));
        af_free(af);
        return -1;
    }
    return 0;
}

int atomic_commit(AtomicFile *af, Err *e) {
    if (!af->fp) {
        af_free(af);
        return err_set(e, "atomic_commit: file is not open");
    }
    int rc = 0;
    if (ferror(af->fp)) {
        rc = err_set(e, "%s: write error", af->tmp_path);
    } else if (fflush(af->fp) != 0) {
        rc = err_set(e, "%s: write failed: %s", af->tmp_path, strerror(errno));
    } else if (fsync(fileno(af->fp)) != 0) {
        rc = err_set(e, "%s: fsync failed: %s", af->tmp_path, strerror(errno));
    }
    if (fclose(af->fp) != 0 && rc == 0)
        rc = err_set(e, "%s: close failed: %s", af->tmp_path, strerror(errno));
    af->fp = NULL;
    if (rc == 0 && rename(af->tmp_path, af->path) != 0)
        rc = err_set(e, "%s: cannot rename %s into place: %s", af->path, af->tmp_path,
                     strerror(errno));
    if (rc != 0) {
        unlink(af->tmp_path);
        af_free(af);
        return -1;
    }
    char *dir = parent_dir(af->path);
    rc = fsync_dir(dir, e);
    free(dir);
    af_free(af);
    return rc;
}

void atomic_abort(AtomicFile *af) {
    if (af->fp) fclose(af->fp);
    af->fp = NULL;
    if (af->tmp_path) unlink(af->tmp_path);
    af_free(af);
}

int atomic_write_file(const char *path, const void *data, size_t n, Err *e) {
    AtomicFile af;
    if (atomic_open(&af, path, e) != 0) return -1;
    if (n > 0 && fwrite(data, 1, n, af.fp) != n) {
        int en = errno;
        err_set(e, "%s: write failed: %s", af.tmp_path, strerror(en));
        atomic_abort(&af);
        return -1;
    }
    return atomic_commit(&af, e);
}

int read_file(const char *path, char **data, size_t *n, Err *e) {
    *data = NULL;
    *n = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp) return err_set(e, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 1 << 16, len = 0;
    struct stat st;
    int have_st = fstat(fileno(fp), &st) == 0;
    if (have_st && S_ISDIR(st.st_mode)) {
        fclose(fp);
        return err_set(e, "%s: is a folder, not a file", path);
    }
    if (have_st && S_ISREG(st.st_mode) && st.st_size > 0)
        cap = (size_t)st.st_size + 1;
    char *buf = xmalloc(cap);
    for (;;) {
        size_t got = fread(buf + len, 1, cap - 1 - len, fp);
        len += got;
        if (got == 0 || feof(fp) || ferror(fp)) break;
        if (len + 1 >= cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
    }
    if (ferror(fp)) {
        int en = errno;
        fclose(fp);
        free(buf);
        return err_set(e, "%s: read error: %s", path, strerror(en));
    }
    fclose(fp);
    buf[len] = 0;
    *data = buf;
    *n = len;
    return 0;
}

int path_exists(const char *path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int mkdir_p(const char *path, Err *e) {
    if (!path || !*path) return err_set(e, "mkdir: empty path");
    char *p = xstrdup(path);
    size_t len = strlen(p);
    while (len > 1 && p[len - 1] == '/') p[--len] = 0;
    for (char *c = p + 1;; c++) {
        if (*c == '/' || *c == 0) {
            char saved = *c;
            *c = 0;
            if (mkdir(p, 0777) != 0) {
                int en = errno;
                if (en != EEXIST || !is_dir(p)) {
                    if (en == EEXIST) en = ENOTDIR;
                    err_set(e, "%s: cannot create folder %s: %s", path, p, strerror(en));
                    free(p);
                    return -1;
                }
            }
            *c = saved;
            if (saved == 0) break;
        }
    }
    free(p);
    return 0;
}

int remove_tree(const char *path, Err *e) {
    struct stat st;
    if (lstat(path, &st) != 0) {
        if (errno == ENOENT) return 0;
        return err_set(e, "%s: cannot stat: %s", path, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) {
        if (unlink(path) != 0) return err_set(e, "%s: cannot remove: %s", path, strerror(errno));
        return 0;
    }
    DIR *d = opendir(path);
    if (!d) return err_set(e, "%s: cannot open folder: %s", path, strerror(errno));
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0) continue;
        char *child = path_join(path, de->d_name);
        rc = remove_tree(child, e);
        free(child);
    }
    closedir(d);
    if (rc != 0) return -1;
    if (rmdir(path) != 0) return err_set(e, "%s: cannot remove folder: %s", path, strerror(errno));
    return 0;
}

int replace_dir(const char *src, const char *dst, Err *e) {
    if (!is_dir(src)) return err_set(e, "%s: not a folder (replacing %s)", src, dst);
    char *old = NULL;
    if (path_exists(dst)) {
        old = str_printf("%s.old.%ld", dst, (long)getpid());
        if (remove_tree(old, e) != 0) {
            free(old);
            return -1;
        }
        if (rename(dst, old) != 0) {
            int en = errno;
            free(old);
            return err_set(e, "%s: cannot move aside the old folder: %s", dst, strerror(en));
        }
    }
    if (rename(src, dst) != 0) {
        int en = errno;
        if (old) rename(old, dst);  // put the old one back
        free(old);
        return err_set(e, "%s: cannot rename %s into place: %s", dst, src, strerror(en));
    }
    char *parent = parent_dir(dst);
    int rc = fsync_dir(parent, e);
    free(parent);
    if (old) {
        if (remove_tree(old, e) != 0) rc = -1;
        free(old);
    }
    return rc;
}
