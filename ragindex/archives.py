"""Zip containers (Office Open XML, OpenDocument, EPUB) checked before any parser sees them.

A document format that is a zip can be a zip bomb: a small file whose members inflate to
gigabytes, or that declare small sizes and inflate past them. Every member's declared size and
its actual inflated size are counted here, against one limit for the whole archive, before a
library parses it. A password-protected Office file is not a zip at all but an OLE container
(the encrypted package inside it), and is refused as encrypted.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

from ragindex.errors import SourceError

# how far a container may inflate: ten times the largest file ragindex reads by default
# (`max_file_mb`, 20 MB). Spreadsheets' XML compresses about tenfold; images do not compress.
UNPACK_FACTOR = 10
DEFAULT_MAX_UNPACKED_BYTES = UNPACK_FACTOR * 20_000_000
# more members than any real document has; each costs the parser memory before it reads one
MAX_MEMBERS = 20_000
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_ZIP_MAGIC = b"PK\x03\x04"
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")
_LOCAL_HEADER = struct.Struct("<4s2B4HL2L2H")
_STEP = 1 << 20


def open_zip(data: bytes, *, what: str, max_unpacked_bytes: int) -> zipfile.ZipFile:
    """The archive, once its members were all inflated within the limit; `SourceError` with the
    reason otherwise (encrypted, corrupt, a zip bomb)."""
    if data.startswith(OLE_MAGIC):
        if _ENCRYPTED_PACKAGE in data:
            raise SourceError(f"encrypted {what} (a password is needed)")
        raise SourceError(
            f"encrypted {what} (a password is needed), or an old binary Office file under a "
            "new name: an OLE container, not a zip archive"
        )
    if not data.startswith(_ZIP_MAGIC):
        raise SourceError(f"corrupt {what} (not a zip archive)")
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError) as error:
        raise SourceError(f"corrupt {what} ({error})") from None
    if len(members) > MAX_MEMBERS:
        raise SourceError(f"{what} holds {len(members):,} files, more than {MAX_MEMBERS:,}")
    declared = sum(member.file_size for member in members)
    if declared > max_unpacked_bytes:
        raise SourceError(_bomb(what, declared, max_unpacked_bytes))
    if any(member.flag_bits & 0x1 for member in members):
        raise SourceError(f"encrypted {what} (the zip archive has a password)")
    inflated = 0
    for member in members:
        size = _inflated_size(data, member, what, max_unpacked_bytes - inflated)
        inflated += size
        if inflated > max_unpacked_bytes:
            raise SourceError(_bomb(what, inflated, max_unpacked_bytes))
        if size > member.file_size:
            raise SourceError(
                f"zip bomb refused: {what} member {member.filename} inflates past its declared "
                f"{member.file_size:,} bytes"
            )
    return archive


def _inflated_size(data: bytes, member: zipfile.ZipInfo, what: str, budget: int) -> int:
    """Inflate one member without keeping it, counting its bytes; stops as soon as it passes
    its declared size or what is left of the archive's budget (the caller refuses it then)."""
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise SourceError(f"corrupt {what} ({member.filename}: unusual compression method)")
    raw = _raw_member(data, member, what)
    if member.compress_type == zipfile.ZIP_STORED:
        size = len(raw)
        crc = zlib.crc32(raw)
    else:
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        size = crc = 0
        pending = raw
        try:
            while pending or not inflater.eof:
                piece = inflater.decompress(pending, _STEP)
                pending = inflater.unconsumed_tail
                if not piece:
                    break
                size += len(piece)
                crc = zlib.crc32(piece, crc)
                if size > member.file_size or size > budget:
                    break
        except zlib.error as error:
            raise SourceError(f"corrupt {what} ({member.filename}: {error})") from None
    if size > member.file_size or size > budget:
        return size
    if size != member.file_size or crc != member.CRC:
        raise SourceError(f"corrupt {what} ({member.filename}: damaged or truncated)")
    return size


def _raw_member(data: bytes, member: zipfile.ZipInfo, what: str) -> bytes:
    """A member's compressed bytes, found through its local header as zipfile finds them."""
    offset = member.header_offset
    header = data[offset : offset + _LOCAL_HEADER.size]
    if len(header) < _LOCAL_HEADER.size or not header.startswith(_ZIP_MAGIC):
        raise SourceError(f"corrupt {what} ({member.filename}: bad local header)")
    fields = _LOCAL_HEADER.unpack(header)
    start = offset + _LOCAL_HEADER.size + fields[-2] + fields[-1]
    raw = data[start : start + member.compress_size]
    if len(raw) < member.compress_size:
        raise SourceError(f"corrupt {what} ({member.filename}: truncated)")
    return raw


def _bomb(what: str, size: int, limit: int) -> str:
    return (
        f"zip bomb refused: {what} unpacks to more than the {limit / 1e6:,.0f} MB limit "
        f"({size / 1e6:,.0f} MB counted)"
    )
