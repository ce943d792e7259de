#!/usr/bin/env python3
"""Draws Unbusy's toolbar icon (a blue disc with a white retry arc) as PNGs, with the stdlib only.
The PNGs are committed; run this again only to change the design."""
import math, os, struct, zlib

def png(size):
    rows = []
    c = (size - 1) / 2
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            dx, dy = x - c, y - c
            r = math.hypot(dx, dy) / (size / 2)
            angle = (math.degrees(math.atan2(-dy, dx)) + 360) % 360
            alpha = max(0.0, min(1.0, (1.0 - r) * size / 2))  # anti-aliased disc edge
            ring = 0.42 < r < 0.62 and not (20 < angle < 95)
            head = 0.30 < r < 0.74 and 95 <= angle < 130 and (angle - 95) / 35 < (0.74 - r) / 0.44 * 1.6 and r > 0.30
            white = ring or head
            rgb = (255, 255, 255) if white else (77, 107, 254)
            row += bytes(rgb) + bytes([int(alpha * 255)])
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows), 9)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")

here = os.path.dirname(os.path.abspath(__file__))
for size in (16, 32, 48, 128):
    with open(os.path.join(here, f"icon-{size}.png"), "wb") as f:
        f.write(png(size))
