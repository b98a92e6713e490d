"""Constants and framing of the ADB transport protocol (device side), the shell v2 protocol and sync.

References: AOSP packages/modules/adb protocol.txt, SERVICES.TXT, SYNC.TXT, shell_protocol.h,
file_sync_protocol.h.
"""

from __future__ import annotations

import struct

A_SYNC = 0x434E5953
A_CNXN = 0x4E584E43
A_AUTH = 0x48545541
A_OPEN = 0x4E45504F
A_OKAY = 0x59414B4F
A_CLSE = 0x45534C43
A_WRTE = 0x45545257
A_STLS = 0x534C5453
COMMAND_NAMES = {A_SYNC: "SYNC", A_CNXN: "CNXN", A_AUTH: "AUTH", A_OPEN: "OPEN", A_OKAY: "OKAY",
                 A_CLSE: "CLSE", A_WRTE: "WRTE", A_STLS: "STLS"}

A_VERSION_MIN = 0x01000000
A_VERSION_SKIP_CHECKSUM = 0x01000001
A_VERSION = 0x01000001
MAX_PAYLOAD = 256 * 1024  # what the device accepts; the transport uses min(host, device)
MAX_PAYLOAD_LIMIT = 1024 * 1024 * 4  # refuse absurd message sizes from the peer

HEADER = struct.Struct("<6I")

# Features announced in the CNXN banner (only what is implemented).
FEATURES = ("shell_v2", "stat_v2", "ls_v2", "fixed_push_mkdir", "fixed_push_symlink_timestamp")

# shell protocol v2 packet ids
SHELL_STDIN, SHELL_STDOUT, SHELL_STDERR, SHELL_EXIT, SHELL_CLOSE_STDIN, SHELL_WINDOW = 0, 1, 2, 3, 4, 5
SHELL_HEADER = struct.Struct("<BI")


def checksum(data: bytes) -> int:
    return sum(data) & 0xFFFFFFFF


def pack_message(command: int, arg0: int, arg1: int, data: bytes = b"", with_checksum: bool = False) -> bytes:
    check = checksum(data) if with_checksum else 0
    return HEADER.pack(command, arg0 & 0xFFFFFFFF, arg1 & 0xFFFFFFFF, len(data), check, command ^ 0xFFFFFFFF) + data


def shell_packet(packet_id: int, data: bytes) -> bytes:
    return SHELL_HEADER.pack(packet_id, len(data)) + data


def banner(properties: dict[str, str], features=FEATURES) -> bytes:
    keys = ("ro.product.name", "ro.product.model", "ro.product.device")
    parts = [f"{k}={properties[k]}" for k in keys if properties.get(k)]
    parts.append("features=" + ",".join(features))
    return ("device::" + ";".join(parts) + ";").encode()


# sync protocol ids
def _id(s: str) -> int:
    return struct.unpack("<I", s.encode())[0]


ID_STAT, ID_STA2, ID_LST2 = _id("STAT"), _id("STA2"), _id("LST2")
ID_LIST, ID_LIS2, ID_DENT, ID_DNT2 = _id("LIST"), _id("LIS2"), _id("DENT"), _id("DNT2")
ID_SEND, ID_SND2, ID_RECV, ID_RCV2 = _id("SEND"), _id("SND2"), _id("RECV"), _id("RCV2")
ID_DONE, ID_DATA, ID_OKAY, ID_FAIL, ID_QUIT = _id("DONE"), _id("DATA"), _id("OKAY"), _id("FAIL"), _id("QUIT")
SYNC_DATA_MAX = 64 * 1024

SYNC_REQ = struct.Struct("<II")
STAT_V1 = struct.Struct("<IIII")  # id mode size mtime
STAT_V2 = struct.Struct("<IIQQIIIIQqqq")  # id error dev ino mode nlink uid gid size atime mtime ctime
DENT_V1 = struct.Struct("<IIIII")  # id mode size mtime namelen
DENT_V2 = struct.Struct("<IIQQIIIIQqqqI")
