/* Protobuf wire primitives for the Bitswap codec (fastswap/message/_codec_c.pyx).
 *
 * Spec: protobuf encoding ("Base 128 Varints", "Message Structure", wire types 0-5) and
 * multiformats unsigned-varint (the Bitswap frame length prefix).
 *
 * Varints are read the way upb reads them: at most 10 bytes, bits past 64 dropped, no
 * minimality check, so everything protobuf accepts we accept. Functions return FS_OK or one of
 * the FS_* codes; the .pyx turns a code into the named exception. The pure-Python twin
 * (_codec_py.py) implements the same rules; the fuzz tests hold the two to the same answers.
 */
#ifndef FASTSWAP_VARINT_H
#define FASTSWAP_VARINT_H

#include <stddef.h>
#include <stdint.h>

enum {
    FS_OK = 0,
    FS_TRUNCATED = 1,    /* input ends inside a varint or a fixed-width / length-delimited value */
    FS_OVERLONG = 2,     /* a varint of more than 10 bytes */
    FS_BAD_WIRETYPE = 3, /* wire type 6 or 7 */
    FS_BAD_GROUP = 4,    /* an end-group tag with no matching start, or groups nested too deep */
    FS_BAD_TAG = 5,      /* field number 0, or a tag that does not fit 32 bits */
};

/* Unknown groups (wire type 3, proto2) nest at most this deep; upb's limit is 100. */
#define FS_MAX_GROUP_DEPTH 32

/* Read a varint at *pp (advancing it) into *out. */
static inline int fs_read_varint(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp;
    uint64_t v = 0;
    int i;
    for (i = 0; i < 10; i++) {
        uint8_t b;
        if (p >= end)
            return FS_TRUNCATED;
        b = *p++;
        /* shift 63 on the tenth byte: unsigned, so the bits past 64 just fall off */
        v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (b < 0x80) {
            *pp = p;
            *out = v;
            return FS_OK;
        }
    }
    return FS_OVERLONG;
}

/* Skip the tag byte at *pp and read the varint after it, up to 5 bytes (every int32 >= 0 and
 * every enum/bool). Returns 1 and advances *pp past the value on success; returns 0 and leaves
 * *pp on the tag otherwise (longer, truncated), so the caller's generic loop can handle it. */
static inline int fs_read_varint_fast(const uint8_t **pp, const uint8_t *end, uint64_t *out)
{
    const uint8_t *p = *pp + 1;
    uint64_t v;
    if (end - p >= 5) { /* no bounds checks per byte */
        v = p[0];
        if (v < 0x80) { *out = v; *pp = p + 1; return 1; }
        v = (v & 0x7f) | ((uint64_t)(p[1] & 0x7f) << 7);
        if (p[1] < 0x80) { *out = v; *pp = p + 2; return 1; }
        v |= (uint64_t)(p[2] & 0x7f) << 14;
        if (p[2] < 0x80) { *out = v; *pp = p + 3; return 1; }
        v |= (uint64_t)(p[3] & 0x7f) << 21;
        if (p[3] < 0x80) { *out = v; *pp = p + 4; return 1; }
        v |= (uint64_t)(p[4] & 0x7f) << 28;
        if (p[4] < 0x80) { *out = v; *pp = p + 5; return 1; }
        return 0;
    }
    if (p < end && p[0] < 0x80) {
        *out = p[0];
        *pp = p + 1;
        return 1;
    }
    return 0;
}

/* Read a field tag: a varint that fits 32 bits, with a non-zero field number. */
static inline int fs_read_tag(const uint8_t **pp, const uint8_t *end, uint32_t *tag)
{
    uint64_t v;
    int rc;
    if (*pp < end && **pp < 0x80) { /* one-byte tags: every field this schema knows */
        v = **pp;
        *pp += 1;
    } else if ((rc = fs_read_varint(pp, end, &v)) != FS_OK) {
        return rc;
    }
    if (v > 0xffffffffu || (v >> 3) == 0)
        return FS_BAD_TAG;
    *tag = (uint32_t)v;
    return FS_OK;
}

/* Read the length of a length-delimited value and check that it fits before end. */
static inline int fs_read_len(const uint8_t **pp, const uint8_t *end, size_t *len)
{
    uint64_t v;
    int rc;
    if (*pp < end && **pp < 0x80) {
        v = **pp;
        *pp += 1;
    } else if ((rc = fs_read_varint(pp, end, &v)) != FS_OK) {
        return rc;
    }
    if (v > (uint64_t)(end - *pp))
        return FS_TRUNCATED;
    *len = (size_t)v;
    return FS_OK;
}

/* Skip the value of an unknown field whose tag was just read (protobuf's unknown-field rule:
 * a newer peer's extra fields must not break us). Groups are skipped to their matching end. */
static int fs_skip_field(const uint8_t **pp, const uint8_t *end, uint32_t tag, int depth)
{
    uint64_t v;
    size_t n;
    int rc;
    switch (tag & 7) {
    case 0:
        return fs_read_varint(pp, end, &v);
    case 1:
        if (end - *pp < 8)
            return FS_TRUNCATED;
        *pp += 8;
        return FS_OK;
    case 2:
        if ((rc = fs_read_len(pp, end, &n)) != FS_OK)
            return rc;
        *pp += n;
        return FS_OK;
    case 3:
        if (depth >= FS_MAX_GROUP_DEPTH)
            return FS_BAD_GROUP;
        for (;;) {
            uint32_t inner;
            if ((rc = fs_read_tag(pp, end, &inner)) != FS_OK)
                return rc;
            if ((inner & 7) == 4) /* end group: must close this group */
                return (inner >> 3) == (tag >> 3) ? FS_OK : FS_BAD_GROUP;
            if ((rc = fs_skip_field(pp, end, inner, depth + 1)) != FS_OK)
                return rc;
        }
    case 4:
        return FS_BAD_GROUP;
    case 5:
        if (end - *pp < 4)
            return FS_TRUNCATED;
        *pp += 4;
        return FS_OK;
    default:
        return FS_BAD_WIRETYPE;
    }
}

/* Bytes needed to write v as a varint. */
static inline size_t fs_varint_size(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

/* Write v as a varint at p; return the position after it. */
static inline uint8_t *fs_write_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) {
        *p++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

#endif /* FASTSWAP_VARINT_H */
