// The HDF5 pieces every file format of tap uses (datasets, checkpoints, the trainer state):
// silencing the library's own error printing, closing ids, small attributes and 1-D datasets.
// Codes, not messages: callers name the file and the object in their own errors.
#ifndef TAP_H5UTIL_H
#define TAP_H5UTIL_H

#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

enum {
    H5U_OK = 0,
    H5U_ABSENT = -1,
    H5U_SHAPE = -2,
    H5U_FAILED = -3,
    H5U_NOT_HDF5 = -4,
    H5U_NO_FILE = -5,
    H5U_NOMEM = -6
};

// HDF5 prints a stack of errors on stderr by default; tap reports its own.
void h5u_quiet(void);
// ---- integrity stamp: every file tap writes carries a CRC-32 of all its bytes, checked before
// HDF5 parses anything (HDF5 trusts its own structures: a changed byte in a heap or a header can
// crash the library or silently change the data).
// Layout: a 512-byte HDF5 user block (the superblock follows at 512, where HDF5, h5dump and h5py
// look for it) whose first 20 bytes are the magic "\x89TAPcrc1", the file length (uint64 LE)
// and the CRC-32 (zlib's polynomial, uint32 LE) of bytes 20 .. length; the rest is zero.
enum { H5U_STAMP_BLOCK = 512 };
// A file-creation property list with the user block (H5Pclose it), or H5I_INVALID_HID.
hid_t h5u_stamp_fcpl(void);
// Writes the stamp into a closed file made with h5u_stamp_fcpl: H5U_OK or H5U_FAILED.
int h5u_stamp(const char *path);
// H5U_OK: the stamp matches. H5U_ABSENT: a file without one (made before stamps, or by another
// program: HDF5 signature at byte 0), which is read unverified. H5U_NOT_HDF5: neither that
// signature nor a stamp (too short, garbage, a damaged first block). H5U_FAILED: a stamp that
// does not match (a changed byte or length) or a read error. *why (static text) says which.
int h5u_verify(const char *path, const char **why);
// Opens an existing file read-only (after h5u_quiet), checking its stamp with h5u_verify before
// HDF5 reads a byte (files without one: as ever). H5U_OK with *f open; H5U_NO_FILE: it cannot
// be opened for reading (errno says why); H5U_NOT_HDF5 with *why from h5u_verify, or with *why
// NULL when the stamp passed but HDF5 cannot open it (truncated or corrupt); H5U_FAILED: a stamp
// that does not match (*why). *f is H5I_INVALID_HID unless H5U_OK.
int h5u_open_read(const char *path, hid_t *f, const char **why);
// 1 when the file starts like one tap can open as HDF5 (HDF5's signature, or the stamp's magic),
// else 0 (also when it cannot be read). Reads 8 bytes: a cheap test, not a verification.
int h5u_looks_hdf5(const char *path);
// The CRC-32 of n bytes continuing crc (start with 0).
uint32_t h5u_crc32(uint32_t crc, const void *data, size_t n);

// Files HDF5 still holds open. After a failed close of a file being written (a full disk,
// RLIMIT_FSIZE) HDF5 1.10 keeps the file half-closed and crashes in its exit handler
// (H5_term_library closing it again): a program that sees a count > 0 at its end leaves through
// _exit instead of exit (tools/tap.c does, for every command).
long h5u_open_files(void);
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

// The variable-length UTF-8 string type of every string dataset tap writes (H5Tclose it), or
// H5I_INVALID_HID.
hid_t h5u_utf8_string_type(void);
// A 1-D dataset of n >= 1 such strings, without modification times (so equal content gives
// equal bytes): H5U_OK or H5U_FAILED.
int h5u_write_strings(hid_t loc, const char *name, const char *const *s, hsize_t n);
// Reads a 1-D dataset of variable-length strings (in its own character set) into *out, n malloc'd
// strings (a NULL string read as ""), plus a NULL slot at the end; *n their count. H5U_OK, or
// H5U_ABSENT (no such dataset), H5U_SHAPE (not 1-D, not variable-length strings, an unknown
// character set, or more than max_n strings), H5U_FAILED (the read failed), H5U_NOMEM; then
// *out is NULL and *why (static text, e.g. "not a 1-D dataset") says which.
int h5u_read_strings(hid_t loc, const char *name, hsize_t max_n, char ***out, size_t *n,
                     const char **why);

#endif
