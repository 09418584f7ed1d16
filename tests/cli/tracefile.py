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
