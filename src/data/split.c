#include "split.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

void split_group_key(const char *uid, const char *writer, char *out, int len) {
    const char *w = writer ? writer : "";
    while (*w && isspace((unsigned char)*w)) w++;
    int n = (int)strlen(w);
    while (n > 0 && isspace((unsigned char)w[n - 1])) n--;
    if (n > 0)
        snprintf(out, (size_t)len, "writer:%.*s", n, w);
    else
        snprintf(out, (size_t)len, "uid:%s", uid ? uid : "");
}

double split_position(const char *key, uint64_t seed) {
    uint64_t h = 0xcbf29ce484222325ull; // FNV-1a
    for (const unsigned char *p = (const unsigned char *)key; *p; p++) h = (h ^ *p) * 0x100000001b3ull;
    uint64_t z = h ^ seed; // splitmix64's finaliser mixes the seed into every bit
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * 0x1.0p-53;
}

int split_held_out(const char *uid, const char *writer, double percent, uint64_t seed) {
    char key[512];
    split_group_key(uid, writer, key, (int)sizeof key);
    return split_position(key, seed) < percent / 100.0;
}
