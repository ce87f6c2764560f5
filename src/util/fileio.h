// util/fileio.h — files written atomically (temp file in the same folder + fsync + rename +
// fsync of the folder: an interrupted run never leaves a half-written file), whole-file reads,
// folders.
#ifndef RLHF_UTIL_FILEIO_H
#define RLHF_UTIL_FILEIO_H

#include <stddef.h>
#include <stdio.h>

#include "util/common.h"

typedef struct {
    FILE *fp;        // write here
    char *path;      // final path
    char *tmp_path;  // PATH.tmp.PID
} AtomicFile;

int atomic_open(AtomicFile *af, const char *path, Err *e);
// fflush + fsync + fclose + rename + fsync(dir); on any failure removes the temp file.
int atomic_commit(AtomicFile *af, Err *e);
void atomic_abort(AtomicFile *af);  // close and remove the temp file
int atomic_write_file(const char *path, const void *data, size_t n, Err *e);

// Reads a whole file; *data is NUL-terminated (not counted in *n). Free with free().
int read_file(const char *path, char **data, size_t *n, Err *e);
int mkdir_p(const char *path, Err *e);  // like mkdir -p
int path_exists(const char *path);
int is_dir(const char *path);
// Removes a folder tree (for replacing checkpoints); 0 if it did not exist.
int remove_tree(const char *path, Err *e);
// Atomically replaces folder dst by folder src (rename; dst removed first if it exists).
int replace_dir(const char *src, const char *dst, Err *e);
// snprintf into a new string.
char *path_join(const char *a, const char *b);

#endif
