"""A bounded pure-Python reader for the root attributes of an HDF5 file.

libhdf5 (through h5py) loops forever on some damaged files while reading an attribute, and a
scanner must finish on hostile input, so the few structures a Keras model keeps its config in are
read here directly, following the HDF5 file format specification 3.0: the superblock (versions
0-3), object headers (versions 1 and 2, with continuation blocks), attribute messages (versions
1-3), string and variable-length string datatypes, dataspaces and global heap collections. Every
read is bounds-checked; anything else (dense attribute storage, shared messages) is reported as
not read rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from mlvet.artifacts import Buffer

SIGNATURE = b"\x89HDF\r\n\x1a\n"
MAX_HEADER_BLOCKS = 256
MAX_MESSAGES = 65_536
MAX_TEXT_BYTES = 256 << 20

_CONTINUATION, _ATTRIBUTE, _ATTRIBUTE_INFO = 0x10, 0x0C, 0x15
_STRING, _VARIABLE_LENGTH = 3, 9
_SHARED_FLAG = 0x02


class HDF5Error(ValueError):
    """The bytes do not follow the HDF5 format where this reader looked."""


@dataclass
class Attribute:
    """One attribute of the root group: its text when it is a string, else just its type class."""

    name: str
    type_class: int
    text: str | None = None


@dataclass
class RootAttributes:
    attributes: list[Attribute] = field(default_factory=list)
    unread: list[str] = field(default_factory=list)
    """Why some attributes could not be read (dense storage, shared messages...)."""


def read_root_attributes(data: Buffer) -> RootAttributes:
    """The attributes of the root group; raises HDF5Error when the structure is broken."""
    return _Reader(memoryview(data)).root_attributes()


class _Reader:
    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.base = 0
        self.offset_size = 8
        self.length_size = 8
        self.heaps: dict[int, dict[int, bytes]] = {}

    # -- primitive reads ------------------------------------------------------------------
    def bytes_at(self, position: int, size: int) -> bytes:
        if position < 0 or size < 0 or position + size > len(self.data):
            raise HDF5Error(f"read of {size} bytes at {position} beyond the end of the file")
        return bytes(self.data[position : position + size])

    def uint(self, position: int, size: int) -> int:
        return int.from_bytes(self.bytes_at(position, size), "little")

    def address(self, position: int) -> int | None:
        """A file address (relative to the base), or None for the undefined address."""
        value = self.uint(position, self.offset_size)
        return None if value == (1 << (8 * self.offset_size)) - 1 else value

    # -- superblock -----------------------------------------------------------------------
    def root_attributes(self) -> RootAttributes:
        header = self.superblock()
        result = RootAttributes()
        for message_type, flags, body in self.messages(header):
            if message_type == _ATTRIBUTE_INFO and self.dense_storage(body):
                result.unread.append("attributes in dense storage (fractal heap) were not read")
            if message_type != _ATTRIBUTE:
                continue
            if flags & _SHARED_FLAG:
                result.unread.append("a shared attribute message was not read")
                continue
            result.attributes.append(self.attribute(body))
        return result

    def superblock(self) -> int:
        """Locate the superblock (at 0, 512, 1024...) and return the root object header's address."""
        position = 0
        while position + len(SIGNATURE) <= len(self.data) and position <= 1 << 30:
            if self.bytes_at(position, len(SIGNATURE)) == SIGNATURE:
                return self.parse_superblock(position)
            position = 512 if position == 0 else position * 2
        raise HDF5Error("no HDF5 superblock signature")

    def parse_superblock(self, start: int) -> int:
        version = self.uint(start + 8, 1)
        if version in (0, 1):
            self.offset_size = self.uint(start + 13, 1)
            self.length_size = self.uint(start + 14, 1)
            self.check_sizes()
            cursor = start + 24 + (4 if version == 1 else 0)
            self.set_base(start, self.uint(cursor, self.offset_size))
            entry = cursor + 4 * self.offset_size  # base, free space, end of file, driver info
            root = self.address(entry + self.offset_size)  # skip the link name offset
        elif version in (2, 3):
            self.offset_size = self.uint(start + 9, 1)
            self.length_size = self.uint(start + 10, 1)
            self.check_sizes()
            cursor = start + 12
            self.set_base(start, self.uint(cursor, self.offset_size))
            root = self.address(cursor + 3 * self.offset_size)
        else:
            raise HDF5Error(f"unknown superblock version {version}")
        if root is None:
            raise HDF5Error("the root group has no object header")
        return self.base + root

    def check_sizes(self) -> None:
        if self.offset_size not in (2, 4, 8) or self.length_size not in (2, 4, 8):
            raise HDF5Error(f"invalid offset/length sizes {self.offset_size}/{self.length_size}")

    def set_base(self, superblock: int, stored: int) -> None:
        self.base = stored if stored not in (0, (1 << (8 * self.offset_size)) - 1) else superblock
        if self.base > len(self.data):
            raise HDF5Error("base address beyond the end of the file")

    # -- object headers -------------------------------------------------------------------
    def messages(self, header: int) -> list[tuple[int, int, bytes]]:
        """Every (type, flags, body) of an object header, following continuation blocks."""
        if self.bytes_at(header, 4) == b"OHDR":
            blocks, creation_order = self.header_v2(header)
            version = 2
        elif self.uint(header, 1) == 1:
            size = self.uint(header + 8, 4)
            blocks, creation_order, version = [(header + 16, size)], False, 1
        else:
            raise HDF5Error(f"unknown object header at {header}")
        found: list[tuple[int, int, bytes]] = []
        seen: set[int] = set()
        while blocks:
            start, size = blocks.pop(0)
            if start in seen or len(seen) >= MAX_HEADER_BLOCKS:
                raise HDF5Error("object header continuation loop or too many blocks")
            seen.add(start)
            for message in self.block_messages(start, size, version, creation_order):
                if len(found) >= MAX_MESSAGES:
                    raise HDF5Error("too many object header messages")
                if message[0] == _CONTINUATION:
                    blocks.append(self.continuation(message[2], version))
                found.append(message)
        return found

    def header_v2(self, header: int) -> tuple[list[tuple[int, int]], bool]:
        if self.uint(header + 4, 1) != 2:
            raise HDF5Error("unknown version 2 object header revision")
        flags = self.uint(header + 5, 1)
        cursor = header + 6 + (16 if flags & 0x20 else 0) + (4 if flags & 0x10 else 0)
        width = 1 << (flags & 0x03)
        size = self.uint(cursor, width)
        return [(cursor + width, size)], bool(flags & 0x04)

    def continuation(self, body: bytes, version: int) -> tuple[int, int]:
        if len(body) < self.offset_size + self.length_size:
            raise HDF5Error("short continuation message")
        start = int.from_bytes(body[: self.offset_size], "little") + self.base
        size = int.from_bytes(body[self.offset_size : self.offset_size + self.length_size], "little")
        if version == 2:
            if self.bytes_at(start, 4) != b"OCHK":
                raise HDF5Error("continuation block without its OCHK signature")
            return start + 4, size - 8  # signature before, checksum after
        return start, size

    def block_messages(
        self, start: int, size: int, version: int, creation_order: bool
    ) -> list[tuple[int, int, bytes]]:
        end = start + size
        if size < 0 or end > len(self.data):
            raise HDF5Error("object header block beyond the end of the file")
        prefix = 8 if version == 1 else 4 + (2 if creation_order else 0)
        cursor, messages = start, []
        while cursor + prefix <= end:
            if version == 1:
                kind, length, flags = self.uint(cursor, 2), self.uint(cursor + 2, 2), self.uint(cursor + 4, 1)
            else:
                kind, length, flags = self.uint(cursor, 1), self.uint(cursor + 1, 2), self.uint(cursor + 3, 1)
            body_start = cursor + prefix
            if body_start + length > end:
                raise HDF5Error("object header message overruns its block")
            messages.append((kind, flags, self.bytes_at(body_start, length)))
            cursor = body_start + length
        return messages

    def dense_storage(self, body: bytes) -> bool:
        """An attribute info message whose fractal heap address is defined."""
        if len(body) < 2:
            return False
        cursor = 2 + (2 if body[1] & 0x01 else 0)
        heap = body[cursor : cursor + self.offset_size]
        return len(heap) == self.offset_size and heap != b"\xff" * self.offset_size

    # -- attributes -----------------------------------------------------------------------
    def attribute(self, body: bytes) -> Attribute:
        if len(body) < 8:
            raise HDF5Error("short attribute message")
        version = body[0]
        name_size = int.from_bytes(body[2:4], "little")
        type_size = int.from_bytes(body[4:6], "little")
        space_size = int.from_bytes(body[6:8], "little")
        if version == 1:
            cursor = 8
            sizes = [_padded(name_size), _padded(type_size), _padded(space_size)]
        elif version in (2, 3):
            cursor = 8 + (1 if version == 3 else 0)
            sizes = [name_size, type_size, space_size]
        else:
            raise HDF5Error(f"unknown attribute message version {version}")
        name_bytes = body[cursor : cursor + name_size]
        datatype = body[cursor + sizes[0] : cursor + sizes[0] + type_size]
        space = body[cursor + sizes[0] + sizes[1] : cursor + sizes[0] + sizes[1] + space_size]
        value = body[cursor + sum(sizes) :]
        if len(name_bytes) != name_size or len(datatype) != type_size or len(datatype) < 8:
            raise HDF5Error("attribute message shorter than its declared parts")
        name = name_bytes.split(b"\x00", 1)[0].decode("utf-8", "replace")
        type_class = datatype[0] & 0x0F
        if self.elements(space) < 1:
            return Attribute(name, type_class)
        return Attribute(name, type_class, self.attribute_text(datatype, value))

    def elements(self, space: bytes) -> int:
        """Number of elements a dataspace message describes (1 for scalars, 0 for null)."""
        if len(space) < 4:
            raise HDF5Error("short dataspace message")
        version, rank = space[0], space[1]
        if version == 2 and space[3] == 2:
            return 0
        cursor = 8 if version == 1 else 4
        count = 1
        for axis in range(rank):
            start = cursor + axis * self.length_size
            dimension = space[start : start + self.length_size]
            if len(dimension) != self.length_size:
                raise HDF5Error("dataspace shorter than its rank")
            count *= int.from_bytes(dimension, "little")
        return count

    def attribute_text(self, datatype: bytes, value: bytes) -> str | None:
        """The first element of a string or variable-length string attribute, else None."""
        type_class = datatype[0] & 0x0F
        element_size = int.from_bytes(datatype[4:8], "little")
        if type_class == _STRING:
            raw = value[:element_size]
            return raw.split(b"\x00", 1)[0].rstrip(b" ").decode("utf-8", "replace")
        if type_class != _VARIABLE_LENGTH or datatype[1] & 0x0F != 1:
            return None
        needed = 4 + self.offset_size + 4
        if len(value) < needed:
            raise HDF5Error("variable-length string attribute without its heap reference")
        length = int.from_bytes(value[:4], "little")
        collection = int.from_bytes(value[4 : 4 + self.offset_size], "little")
        index = int.from_bytes(value[4 + self.offset_size : needed], "little")
        if length == 0 and collection == 0:
            return ""
        text = self.heap_object(collection, index)[:length]
        return text.decode("utf-8", "replace")

    def heap_object(self, collection: int, index: int) -> bytes:
        if collection not in self.heaps:
            self.heaps[collection] = self.global_heap(self.base + collection)
        try:
            return self.heaps[collection][index]
        except KeyError:
            raise HDF5Error(f"global heap object {index} missing") from None

    def global_heap(self, start: int) -> dict[int, bytes]:
        if self.bytes_at(start, 4) != b"GCOL":
            raise HDF5Error("global heap collection without its GCOL signature")
        size = self.uint(start + 8, self.length_size)
        end = min(start + size, len(self.data))
        cursor = start + 8 + self.length_size
        objects: dict[int, bytes] = {}
        header = 8 + self.length_size
        while cursor + header <= end:
            index = self.uint(cursor, 2)
            length = self.uint(cursor + 8, self.length_size)
            if index == 0:
                break  # free space: the rest of the collection
            if length > MAX_TEXT_BYTES or cursor + header + length > end:
                raise HDF5Error("global heap object overruns its collection")
            objects[index] = self.bytes_at(cursor + header, length)
            cursor += header + _padded(length)
        return objects


def _padded(size: int) -> int:
    return (size + 7) & ~7
