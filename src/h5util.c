#include "h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void h5u_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

void h5u_close(hid_t *id, herr_t (*closer)(hid_t)) {
    if (*id >= 0) closer(*id);
    *id = H5I_INVALID_HID;
}

int h5u_write_attr(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, hsize_t n,
                   const void *v) {
    hid_t space = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
    hid_t a = space < 0 ? H5I_INVALID_HID
                        : H5Acreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    int ok = a >= 0 && H5Awrite(a, mem_type, v) >= 0;
    h5u_close(&a, H5Aclose);
    h5u_close(&space, H5Sclose);
    return ok ? H5U_OK : H5U_FAILED;
}

int h5u_write_attr_str(hid_t loc, const char *name, const char *s) {
    hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR), a = H5I_INVALID_HID;
    int ok = type >= 0 && space >= 0 && H5Tset_size(type, strlen(s) + 1) >= 0 &&
             H5Tset_strpad(type, H5T_STR_NULLTERM) >= 0;
    if (ok) a = H5Acreate2(loc, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    ok = ok && a >= 0 && H5Awrite(a, type, s) >= 0;
    h5u_close(&a, H5Aclose);
    h5u_close(&space, H5Sclose);
    h5u_close(&type, H5Tclose);
    return ok ? H5U_OK : H5U_FAILED;
}

int h5u_read_attr(hid_t loc, const char *name, hid_t mem_type, hsize_t n, void *v,
                  long long *got) {
    if (got) *got = -1;
    if (H5Aexists(loc, name) <= 0) return H5U_ABSENT;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t space = a < 0 ? H5I_INVALID_HID : H5Aget_space(a);
    hssize_t count = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    if (got) *got = (long long)count;
    int rc = count != (hssize_t)n               ? H5U_SHAPE
             : H5Aread(a, mem_type, v) < 0 ? H5U_FAILED
                                                : H5U_OK;
    h5u_close(&space, H5Sclose);
    h5u_close(&a, H5Aclose);
    return rc;
}

int h5u_read_attr_str(hid_t loc, const char *name, char *out, size_t cap, size_t *size) {
    if (cap) out[0] = '\0';
    if (size) *size = 0;
    if (H5Aexists(loc, name) <= 0) return H5U_ABSENT;
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    hid_t ftype = a < 0 ? H5I_INVALID_HID : H5Aget_type(a), mtype = H5I_INVALID_HID;
    int rc = H5U_OK;
    if (ftype < 0 || H5Tget_class(ftype) != H5T_STRING || H5Tis_variable_str(ftype) > 0) {
        rc = H5U_SHAPE;
        goto done;
    }
    size_t n = H5Tget_size(ftype);
    if (size) *size = n;
    if (n == 0 || n > cap) {
        rc = H5U_SHAPE;
        goto done;
    }
    mtype = H5Tcopy(H5T_C_S1);
    if (mtype < 0 || H5Tset_size(mtype, n) < 0 || H5Aread(a, mtype, out) < 0) {
        rc = H5U_FAILED;
        goto done;
    }
    out[n - 1] = '\0';
done:
    h5u_close(&mtype, H5Tclose);
    h5u_close(&ftype, H5Tclose);
    h5u_close(&a, H5Aclose);
    return rc;
}

int h5u_write_1d(hid_t loc, const char *name, hid_t file_type, hid_t mem_type, hsize_t n,
                 const void *v) {
    hsize_t dims = n ? n : 1;
    hid_t space = n ? H5Screate_simple(1, &dims, NULL) : H5Screate(H5S_NULL);
    hid_t d = space < 0
                  ? H5I_INVALID_HID
                  : H5Dcreate2(loc, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int ok = d >= 0 && (!n || H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0);
    h5u_close(&d, H5Dclose);
    h5u_close(&space, H5Sclose);
    return ok ? H5U_OK : H5U_FAILED;
}

int h5u_read_1d(hid_t loc, const char *name, hid_t mem_type, hsize_t n, void *v) {
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return H5U_ABSENT;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
    int rc = space < 0 || H5Sget_simple_extent_npoints(space) != (hssize_t)n ? H5U_SHAPE
             : n && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) < 0 ? H5U_FAILED
                                                                               : H5U_OK;
    h5u_close(&space, H5Sclose);
    h5u_close(&d, H5Dclose);
    return rc;
}

long h5u_open_files(void) {
    ssize_t n = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_FILE);
    return n < 0 ? 1 : (long)n; // an ID table HDF5 cannot even count is no better
}

// ---------------------------------------------------------------------------- integrity stamp

static const unsigned char stamp_magic[8] = {0x89, 'T', 'A', 'P', 'c', 'r', 'c', '1'};
static const unsigned char hdf5_signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
enum { STAMP_HEAD = 20 };

int h5u_looks_hdf5(const char *path) {
    unsigned char buf[8];
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, 8, f);
    fclose(f);
    return n == 8 && (!memcmp(buf, hdf5_signature, 8) || !memcmp(buf, stamp_magic, 8));
}

uint32_t h5u_crc32(uint32_t crc, const void *data, size_t n) {
    static uint32_t table[8][256];
    static int ready; // the tables are the same whoever fills them, so a race is harmless
    if (!ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
            table[0][i] = c;
        }
        for (int t = 1; t < 8; t++)
            for (int i = 0; i < 256; i++)
                table[t][i] = (table[t - 1][i] >> 8) ^ table[0][table[t - 1][i] & 0xff];
        ready = 1;
    }
    const unsigned char *p = data;
    crc = ~crc;
    for (; n >= 8; n -= 8, p += 8) { // slicing by 8
        uint32_t lo = crc ^ ((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                             (uint32_t)p[3] << 24);
        crc = table[7][lo & 0xff] ^ table[6][(lo >> 8) & 0xff] ^ table[5][(lo >> 16) & 0xff] ^
              table[4][lo >> 24] ^ table[3][p[4]] ^ table[2][p[5]] ^ table[1][p[6]] ^
              table[0][p[7]];
    }
    while (n--) crc = table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}

hid_t h5u_stamp_fcpl(void) {
    hid_t fcpl = H5Pcreate(H5P_FILE_CREATE);
    if (fcpl >= 0 && H5Pset_userblock(fcpl, H5U_STAMP_BLOCK) < 0) h5u_close(&fcpl, H5Pclose);
    return fcpl;
}

// CRC of f's bytes from STAMP_HEAD to the end; 0 or -1 on a read error.
static int crc_rest(FILE *f, uint32_t *crc) {
    unsigned char buf[1 << 16];
    *crc = 0;
    if (fseek(f, STAMP_HEAD, SEEK_SET) != 0) return -1;
    size_t got;
    while ((got = fread(buf, 1, sizeof buf, f)) > 0) *crc = h5u_crc32(*crc, buf, got);
    return ferror(f) ? -1 : 0;
}

static void put_le(unsigned char *p, uint64_t v, int n) {
    for (int i = 0; i < n; i++) p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

int h5u_stamp(const char *path) {
    FILE *f = fopen(path, "r+b");
    if (!f) return H5U_FAILED;
    struct stat st;
    unsigned char sig[8], head[STAMP_HEAD];
    uint32_t crc;
    int ok = fstat(fileno(f), &st) == 0 && st.st_size > H5U_STAMP_BLOCK + 8 &&
             fseek(f, H5U_STAMP_BLOCK, SEEK_SET) == 0 && fread(sig, 1, 8, f) == 8 &&
             !memcmp(sig, hdf5_signature, 8); // made with the user block
    if (ok) { // the head's own bytes are outside the CRC; the length and magic are compared
        memset(head, 0, sizeof head);
        ok = fseek(f, 0, SEEK_SET) == 0 && fwrite(head, 1, STAMP_HEAD, f) == STAMP_HEAD &&
             fflush(f) == 0 && crc_rest(f, &crc) == 0;
    }
    if (ok) {
        memcpy(head, stamp_magic, 8);
        put_le(head + 8, (uint64_t)st.st_size, 8);
        put_le(head + 16, crc, 4);
        ok = fseek(f, 0, SEEK_SET) == 0 && fwrite(head, 1, STAMP_HEAD, f) == STAMP_HEAD;
    }
    ok &= fclose(f) == 0;
    return ok ? H5U_OK : H5U_FAILED;
}

int h5u_verify(const char *path, const char **why) {
    static const char *dummy;
    if (!why) why = &dummy;
    FILE *f = fopen(path, "rb");
    if (!f) {
        *why = "cannot open";
        return H5U_FAILED;
    }
    unsigned char head[STAMP_HEAD];
    struct stat st;
    int rc = H5U_FAILED;
    uint32_t crc;
    if (fstat(fileno(f), &st) != 0 || fread(head, 1, STAMP_HEAD, f) != STAMP_HEAD)
        *why = "too short (truncated?)", rc = H5U_NOT_HDF5;
    else if (!memcmp(head, hdf5_signature, 8))
        rc = H5U_ABSENT;
    else if (memcmp(head, stamp_magic, 8))
        *why = "no HDF5 signature and no tap checksum at its start", rc = H5U_NOT_HDF5;
    else if (get_le(head + 8, 8) != (uint64_t)st.st_size)
        *why = "its length is not the one it was written with (truncated or appended to)";
    else if (crc_rest(f, &crc) != 0)
        *why = "read error";
    else if (crc != (uint32_t)get_le(head + 16, 4))
        *why = "checksum mismatch: the file was changed or damaged after it was written";
    else
        rc = H5U_OK;
    fclose(f);
    return rc;
}

int h5u_open_read(const char *path, hid_t *f, const char **why) {
    static const char *dummy;
    if (!why) why = &dummy;
    *f = H5I_INVALID_HID;
    *why = NULL;
    h5u_quiet();
    FILE *probe = fopen(path, "rb");
    if (!probe) return H5U_NO_FILE; // errno from fopen, untouched
    fclose(probe);
    int check = h5u_verify(path, why);
    if (check == H5U_NOT_HDF5 || check == H5U_FAILED) return check;
    *why = NULL;
    *f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (*f >= 0) return H5U_OK;
    *f = H5I_INVALID_HID;
    return H5U_NOT_HDF5;
}

hid_t h5u_utf8_string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t >= 0 && (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0))
        h5u_close(&t, H5Tclose);
    return t;
}

int h5u_write_strings(hid_t loc, const char *name, const char *const *s, hsize_t n) {
    if (n < 1) return H5U_FAILED;
    hid_t type = h5u_utf8_string_type(), space = H5Screate_simple(1, &n, NULL),
          dcpl = H5Pcreate(H5P_DATASET_CREATE), d = H5I_INVALID_HID;
    int ok = type >= 0 && space >= 0 && dcpl >= 0 && H5Pset_obj_track_times(dcpl, 0) >= 0 &&
             (d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT)) >= 0 &&
             H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, s) >= 0;
    h5u_close(&d, H5Dclose);
    h5u_close(&dcpl, H5Pclose);
    h5u_close(&space, H5Sclose);
    h5u_close(&type, H5Tclose);
    return ok ? H5U_OK : H5U_FAILED;
}

int h5u_read_strings(hid_t loc, const char *name, hsize_t max_n, char ***out, size_t *n,
                     const char **why) {
    *out = NULL;
    *n = 0;
    *why = NULL;
    if (H5Lexists(loc, name, H5P_DEFAULT) <= 0) return *why = "missing", H5U_ABSENT;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) return *why = "missing", H5U_ABSENT;
    hid_t space = H5Dget_space(d), type = H5Dget_type(d), mtype = H5Tcopy(H5T_C_S1);
    int rc = H5U_OK;
    hsize_t count = 0;
    char **raw = NULL, **strs = NULL;
    if (space < 0 || type < 0 || mtype < 0 || H5Tset_size(mtype, H5T_VARIABLE) < 0 ||
        H5Sget_simple_extent_ndims(space) != 1)
        rc = H5U_SHAPE, *why = "not a 1-D dataset";
    else if (H5Tget_class(type) != H5T_STRING || H5Tis_variable_str(type) <= 0)
        rc = H5U_SHAPE, *why = "not variable-length strings";
    else if (H5Tset_cset(mtype, H5Tget_cset(type)) < 0) // HDF5 does not convert between csets
        rc = H5U_SHAPE, *why = "unknown character set";
    else if (H5Sget_simple_extent_dims(space, &count, NULL) < 0 || count > max_n)
        rc = H5U_SHAPE, *why = "absurd length";
    if (rc == H5U_OK) {
        raw = calloc((size_t)count + 1, sizeof *raw);
        strs = calloc((size_t)count + 1, sizeof *strs);
        if (!raw || !strs)
            rc = H5U_NOMEM, *why = "out of memory";
        else if (count > 0 && H5Dread(d, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw) < 0)
            rc = H5U_FAILED, *why = "cannot read (truncated or corrupt file?)";
        else {
            for (hsize_t i = 0; i < count && rc == H5U_OK; i++) {
                const char *v = raw[i] ? raw[i] : "";
                size_t len = strlen(v) + 1;
                if (!(strs[i] = malloc(len)))
                    rc = H5U_NOMEM, *why = "out of memory";
                else
                    memcpy(strs[i], v, len);
            }
            H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, raw);
        }
    }
    free(raw);
    h5u_close(&mtype, H5Tclose);
    h5u_close(&type, H5Tclose);
    h5u_close(&space, H5Sclose);
    h5u_close(&d, H5Dclose);
    if (rc != H5U_OK) {
        for (hsize_t i = 0; strs && i < count; i++) free(strs[i]);
        free(strs);
        return rc;
    }
    *out = strs;
    *n = (size_t)count;
    return H5U_OK;
}
