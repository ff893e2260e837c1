// The HDF5 pieces every file format of tap uses (datasets, checkpoints, the trainer state):
// silencing the library's own error printing, closing ids, small attributes and 1-D datasets.
// Codes, not messages: callers name the file and the object in their own errors.
#ifndef TAP_H5UTIL_H
#define TAP_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>

enum { H5U_OK = 0, H5U_ABSENT = -1, H5U_SHAPE = -2, H5U_FAILED = -3 };

// HDF5 prints a stack of errors on stderr by default; tap reports its own.
void h5u_quiet(void);
// Closes *id with closer when it is valid and marks it invalid.
void h5u_close(hid_t *id, herr_t (*closer)(hid_t));

// An attribute of n values (n = 0: a scalar); H5U_OK or H5U_FAILED.
int h5u_write_attr(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, hsize_t n,
                   const void *v);
// A fixed-length, NUL-terminated string attribute.
int h5u_write_attr_str(hid_t loc, const char *name, const char *s);
// Reads an attribute that must hold exactly n values (a scalar holds 1): H5U_ABSENT, H5U_SHAPE
// (*got, may be NULL, receives the count found) or H5U_FAILED.
int h5u_read_attr(hid_t loc, const char *name, hid_t mem_type, hsize_t n, void *v, long long *got);
// A fixed-length string attribute of at most cap bytes: H5U_ABSENT, H5U_SHAPE (not a
// fixed-length string, or longer than cap; *size gets its size) or H5U_FAILED.
int h5u_read_attr_str(hid_t loc, const char *name, char *out, size_t cap, size_t *size);

// A 1-D dataset of n values (n = 0: an empty dataset).
int h5u_write_1d(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, hsize_t n,
                 const void *v);
// Reads a 1-D dataset that must hold exactly n values: H5U_ABSENT, H5U_SHAPE or H5U_FAILED.
int h5u_read_1d(hid_t loc, const char *name, hid_t mem_type, hsize_t n, void *v);

#endif
