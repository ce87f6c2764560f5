// data/reader.h — streaming JSONL reader of typed records (data/record.h): one line at a time
// through getline (no whole-file buffer; lines of any length), blank lines skipped. A bad line
// (invalid JSON, not an object, a wrong field) fails with "FILE:LINE: ..." — or, in skip-bad
// mode, is counted, its message kept (up to max_problems), and skipped.
#ifndef RLHF_DATA_READER_H
#define RLHF_DATA_READER_H

#include <stdio.h>

#include "data/record.h"

typedef struct {
    const char *path;
    FILE *fp;
    char *buf;
    size_t cap;
    long line;          // lines read so far
    int skip_bad;
    long n_records;     // good records returned
    long n_bad;         // bad lines skipped (skip-bad mode)
    char **problems;    // the first max_problems messages of skipped lines
    int n_problems, max_problems;
} DataReader;

int data_reader_open(DataReader *r, const char *path, int skip_bad, int max_problems, Err *e);
// 1: *rec holds the next record (free with record_free); 0: end of file; -1: error (e set).
int data_reader_next(DataReader *r, DataRecord *rec, Err *e);
void data_reader_close(DataReader *r);

#endif
