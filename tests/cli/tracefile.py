"""Trace files built byte by byte from the layout documented in
analyzer/include/zdedup/trace.h, with libxxhash and libzstd through ctypes:
hostile traces (any header field, any declared size) are made here without
the writer under test, and the checksums are right so the reader gets past
them to the part being tested."""
import ctypes
import struct

_xxh = ctypes.CDLL("libxxhash.so.0")
_xxh.XXH64.restype = ctypes.c_uint64
_xxh.XXH64.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint64]
_zstd = ctypes.CDLL("libzstd.so.1")
_zstd.ZSTD_compressBound.restype = ctypes.c_size_t
_zstd.ZSTD_compressBound.argtypes = [ctypes.c_size_t]
_zstd.ZSTD_compress.restype = ctypes.c_size_t
_zstd.ZSTD_compress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p,
                                ctypes.c_size_t, ctypes.c_int]

EVENTS, DROPS, META = 1, 2, 3
EVENT = struct.Struct("<QQQQIHBB")  # bpf/zdedup_event.h, 40 bytes
STORE, F_STORED, F_HASHED = 1, 1, 8


def xxh64(data):
    return _xxh.XXH64(data, len(data), 0)


def zstd(data):
    out = ctypes.create_string_buffer(_zstd.ZSTD_compressBound(len(data)))
    n = _zstd.ZSTD_compress(out, len(out), data, len(data), 3)
    return out.raw[:n]


def header(version=1, header_size=32, event_size=40, created_ns=0):
    h = b"ZDDTRACE" + struct.pack("<HHIQI", version, header_size, event_size, created_ns, 0)
    return h + struct.pack("<I", xxh64(h) & 0xFFFFFFFF)


def frame(kind, raw, count=1, payload=None, zsize=None, raw_size=None):
    """One frame; zsize/raw_size override what the header declares."""
    payload = zstd(raw) if payload is None else payload
    h = struct.pack("<IHHIIII", 0x5246445A, kind, 0,
                    len(payload) if zsize is None else zsize,
                    len(raw) if raw_size is None else raw_size, count, 0)
    return h + struct.pack("<Q", xxh64(h + payload)) + payload


def store(slot, content_hash, scope=1, comp_len=100, ts=0):
    return EVENT.pack(ts, slot, content_hash, scope, comp_len, 0, STORE, F_STORED | F_HASHED)


def events_frame(events):
    return frame(EVENTS, b"".join(events), count=len(events))


def columns(events):
    """Version 2 events-frame raw bytes: the packed events column by column
    (trace.h), timestamps as differences modulo 2^64, timestamps, slots and
    scopes as byte planes."""
    rows = [EVENT.unpack(e) for e in events]
    ts, prev = [], 0
    for r in rows:
        ts.append((r[0] - prev) % (1 << 64))
        prev = r[0]
    def planes(values):
        return bytes((v >> (8 * k)) & 0xFF for k in range(8) for v in values)

    cols = [planes(ts), planes([r[1] for r in rows]), struct.pack(f"<{len(rows)}Q", *(r[2] for r in rows)),
            planes([r[3] for r in rows])]
    for i, fmt in ((4, "I"), (5, "H"), (6, "B"), (7, "B")):
        cols.append(struct.pack(f"<{len(rows)}{fmt}", *(r[i] for r in rows)))
    return b"".join(cols)


def events_frame_v2(events, count=None, raw_size=None, raw=None):
    """A version 2 events frame; count/raw_size/raw override what is declared or stored."""
    raw = columns(events) if raw is None else raw
    return frame(EVENTS, raw, count=len(events) if count is None else count, raw_size=raw_size)


_zstd.ZSTD_getFrameContentSize.restype = ctypes.c_ulonglong
_zstd.ZSTD_getFrameContentSize.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
_zstd.ZSTD_decompress.restype = ctypes.c_size_t
_zstd.ZSTD_decompress.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_size_t]


def unzstd(data, size):
    out = ctypes.create_string_buffer(max(1, size))
    n = _zstd.ZSTD_decompress(out, size, data, len(data))
    assert n == size, n
    return out.raw[:size]


def read(path):
    """(version, [event tuples], meta text, drops) of an undamaged trace, decoded
    from the layout here, without the reader under test."""
    data = open(path, "rb").read()
    assert data[:8] == b"ZDDTRACE"
    version = struct.unpack_from("<H", data, 8)[0]
    events, meta, drops, off = [], None, 0, 32
    while off < len(data):
        magic, kind, _, zsize, raw_size, count, _ = struct.unpack_from("<IHHIIII", data, off)
        assert magic == 0x5246445A
        raw = unzstd(data[off + 32:off + 32 + zsize], raw_size)
        off += 32 + zsize
        if kind == EVENTS and version == 1:
            events += [EVENT.unpack_from(raw, i * EVENT.size) for i in range(count)]
        elif kind == EVENTS:
            n, at, cols = count, 0, []
            for fmt, size in (("P", 8), ("P", 8), ("Q", 8), ("P", 8), ("I", 4), ("H", 2), ("B", 1), ("B", 1)):
                if fmt == "P":  # byte planes: byte k of entry i at k * n + i
                    cols.append([sum(raw[at + k * n + i] << (8 * k) for k in range(8)) for i in range(n)])
                else:
                    cols.append(struct.unpack_from(f"<{n}{fmt}", raw, at))
                at += n * size
            ts, t = [], 0
            for d in cols[0]:
                t = (t + d) % (1 << 64)
                ts.append(t)
            events += list(zip(ts, *cols[1:]))
        elif kind == DROPS:
            drops = max(drops, struct.unpack("<Q", raw)[0])
        elif kind == META:
            meta = raw.decode()
    return version, events, meta, drops
