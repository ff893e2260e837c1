#include "h5util.h"

#include <string.h>

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
