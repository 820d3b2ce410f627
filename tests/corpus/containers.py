"""Containers: PyTorch (zip, TorchScript, legacy, legacy tar), NumPy, joblib, archives, compression.

Malicious samples wrap one harmless payload, a protocol 2 pickle calling ``posix.system("true")``,
in every container and container corruption scanners have missed (scanners.md items 3b-36..46):
zip quirks that strict readers reject, pickles under odd names, legacy layouts, object arrays,
compressed joblib, archives with traversal, links and bombs. Benign samples are written by torch,
joblib/scikit-learn, numpy, tarfile, zipfile and py7zr themselves; nothing is ever loaded back.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import struct
import tarfile
import warnings
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from tests.corpus.sample import Sample, benign, malicious

PAYLOAD = b"\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03."
"""``posix.system("true")`` as protocol 2 (GLOBAL + REDUCE): harmless even if it ran."""
PAYLOAD_PROTO0 = b"cposix\nsystem\n(S'true'\ntR."
"""The same call as a text-only protocol 0 pickle (no ``\\x80`` magic)."""
PICKLE_RULE = "MLV101"
EMPTY_DICT = b"\x80\x02}q\x00."
TORCH_PREFIX = "archive"
LEGACY_MAGIC = 0x1950A86A20F9469CFC6C

# ---------------------------------------------------------------- crafting helpers


def _zip(members: Iterable[tuple[str, bytes]], method: int = zipfile.ZIP_STORED) -> bytes:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names are the point of one sample
        with zipfile.ZipFile(buffer, "w", method) as archive:
            for name, data in members:
                archive.writestr(name, data)
    return buffer.getvalue()


def _torch_members(data_pkl: bytes, name: str = "data.pkl") -> list[tuple[str, bytes]]:
    """The members torch.save writes, with ``data_pkl`` under ``name``."""
    return [
        (f"{TORCH_PREFIX}/{name}", data_pkl),
        (f"{TORCH_PREFIX}/byteorder", b"little"),
        (f"{TORCH_PREFIX}/data/0", struct.pack("<4f", 0.5, -1.25, 2.0, 3.5)),
        (f"{TORCH_PREFIX}/version", b"3\n"),
        (f"{TORCH_PREFIX}/.data/serialization_id", b"0123456789012345678901234567890123456789"),
    ]


def _torch_zip(data_pkl: bytes = PAYLOAD, name: str = "data.pkl", method: int = zipfile.ZIP_STORED) -> bytes:
    return _zip(_torch_members(data_pkl, name), method)


def _central_entries(archive: bytes) -> Iterable[tuple[int, str]]:
    pos = archive.find(b"PK\x01\x02")
    while pos >= 0 and archive[pos : pos + 4] == b"PK\x01\x02":
        name_len, extra_len, comment_len = struct.unpack_from("<3H", archive, pos + 28)
        yield pos, archive[pos + 46 : pos + 46 + name_len].decode()
        pos += 46 + name_len + extra_len + comment_len


def _patch_member(
    archive: bytes, name: str, *, flags: int = 0, crc_xor: int = 0, rename: str | None = None
) -> bytes:
    """Set flag bits (local and central), corrupt the CRC or rename the member in the directory only."""
    data = bytearray(archive)
    for pos, member in _central_entries(archive):
        if member != name:
            continue
        (local,) = struct.unpack_from("<L", data, pos + 42)
        for header, flag_at, crc_at in ((pos, 8, 16), (local, 6, 14)):
            struct.pack_into(
                "<H", data, header + flag_at, struct.unpack_from("<H", data, header + flag_at)[0] | flags
            )
            struct.pack_into(
                "<L", data, header + crc_at, struct.unpack_from("<L", data, header + crc_at)[0] ^ crc_xor
            )
        if rename is not None:
            assert len(rename) == len(name)
            data[pos + 46 : pos + 46 + len(name)] = rename.encode()
    return bytes(data)


def _drop_from_directory(archive: bytes, name: str) -> bytes:
    """Remove a member's central-directory record, leaving its local header and data in place."""
    entries = list(_central_entries(archive))
    eocd = archive.rfind(b"PK\x05\x06")
    records = [(pos, member) for pos, member in entries]
    kept = b""
    for index, (pos, member) in enumerate(records):
        end = records[index + 1][0] if index + 1 < len(records) else eocd
        if member != name:
            kept += archive[pos:end]
    start = records[0][0]
    count = len(records) - 1
    tail = bytearray(archive[eocd:])
    struct.pack_into("<HHL", tail, 8, count, count, len(kept))
    return archive[:start] + kept + bytes(tail)


def _legacy_torch(main: bytes, magic: bytes | None = None) -> bytes:
    """A legacy torch.save stream: magic, protocol, sys_info, ``main``, storage keys, one storage."""
    magic = magic or b"\x80\x02\x8a\x0a" + LEGACY_MAGIC.to_bytes(10, "little") + b"."
    protocol = b"\x80\x02M\xe9\x03."
    sys_info = (
        b"\x80\x02}q\x00(X\x10\x00\x00\x00protocol_versionq\x01M\xe9\x03"
        b"X\r\x00\x00\x00little_endianq\x02\x88u."
    )
    keys = b"\x80\x02]q\x00X\x01\x00\x00\x000q\x01a."
    storage = struct.pack("<Q", 2) + struct.pack("<2f", 1.0, 2.0)
    return magic + protocol + sys_info + main + keys + storage


def _npy(descr: object, shape: tuple[int, ...], body: bytes, version: int = 1) -> bytes:
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode("latin1")
    prefix = 10 if version == 1 else 12
    padding = 64 - (prefix + len(header) + 1) % 64
    header += b" " * padding + b"\n"
    size = struct.pack("<H", len(header)) if version == 1 else struct.pack("<I", len(header))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header + body


def _tar(members: Iterable[tuple[tarfile.TarInfo, bytes | None]], mode: str = "w") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode, format=tarfile.PAX_FORMAT) as archive:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return buffer.getvalue()


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _link(name: str, target: str, kind: bytes) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


_SCRIPTED_CODE = (
    "class Net(Module):\n"
    "  __parameters__ = []\n"
    "  __buffers__ = []\n"
    "  training : bool\n"
    "  def forward(self: __torch__.Net,\n"
    "    input: Tensor) -> Tensor:\n"
    "    {body}\n"
    "    return torch.relu(input)\n"
)


def _torchscript(
    code_body: str = "_0 = torch.relu(input)", constants: bytes = b"\x80\x02)."
) -> list[tuple[str, bytes]]:
    return [
        (f"{TORCH_PREFIX}/data.pkl", EMPTY_DICT),
        (f"{TORCH_PREFIX}/code/__torch__.py", _SCRIPTED_CODE.format(body=code_body).encode()),
        (f"{TORCH_PREFIX}/constants.pkl", constants),
        (f"{TORCH_PREFIX}/version", b"3\n"),
        (f"{TORCH_PREFIX}/byteorder", b"little"),
    ]


# ---------------------------------------------------------------- malicious: PyTorch zip


@malicious("torch/zip_data_pkl.pt", PICKLE_RULE, "torch zip whose data.pkl calls posix.system")
def _torch_data_pkl(path: Path) -> None:
    path.write_bytes(_torch_zip())


@malicious("torch/zip_junk_prefix.pt", PICKLE_RULE, "torch zip behind 512 junk bytes (offsets not fixed up)")
def _torch_junk_prefix(path: Path) -> None:
    path.write_bytes(b"\x00JUNK" * 128 + _torch_zip())


def _flag_sample(flag: int) -> Sample:
    @malicious(f"torch/zip_flag_{flag:#04x}.pt", PICKLE_RULE, f"data.pkl flag bit {flag:#x} (CVE-2025-1945)")
    def build(path: Path) -> None:
        path.write_bytes(_patch_member(_torch_zip(), f"{TORCH_PREFIX}/data.pkl", flags=flag))

    return build


@malicious("torch/zip_crc_mismatch.pt", PICKLE_RULE, "data.pkl CRC does not match (CVE-2025-10156)")
def _torch_crc(path: Path) -> None:
    path.write_bytes(_patch_member(_torch_zip(), f"{TORCH_PREFIX}/data.pkl", crc_xor=0xDEADBEEF))


@malicious(
    "torch/zip_central_renamed.pt",
    PICKLE_RULE,
    "central directory names data.pkl differently (CVE-2025-1944)",
)
def _torch_renamed(path: Path) -> None:
    name = f"{TORCH_PREFIX}/data.pkl"
    path.write_bytes(_patch_member(_torch_zip(), name, rename=f"{TORCH_PREFIX}/data.txt"))


@malicious(
    "torch/zip_proto0_data_txt.pt",
    PICKLE_RULE,
    "protocol 0 pickle without magic under data.txt (CVE-2025-1889)",
)
def _torch_data_txt(path: Path) -> None:
    path.write_bytes(_torch_zip(PAYLOAD_PROTO0, name="data.txt"))


@malicious(
    "torch/zip_pickle_as_bin.pt", PICKLE_RULE, "pickle stored under weights.bin beside a benign data.pkl"
)
def _torch_bin(path: Path) -> None:
    path.write_bytes(_zip([*_torch_members(EMPTY_DICT), (f"{TORCH_PREFIX}/weights.bin", PAYLOAD)]))


@malicious("torch/zip_pickle_in_storage.pt", PICKLE_RULE, "pickle hidden in a tensor storage member data/1")
def _torch_storage(path: Path) -> None:
    path.write_bytes(_zip([*_torch_members(EMPTY_DICT), (f"{TORCH_PREFIX}/data/1", PAYLOAD)]))


@malicious(
    "torch/zip_no_central_directory.pt", PICKLE_RULE, "torch zip truncated before its central directory"
)
def _torch_no_directory(path: Path) -> None:
    archive = _torch_zip()
    path.write_bytes(archive[: archive.find(b"PK\x01\x02")])


@malicious(
    "torch/zip_unlisted_member.pt",
    PICKLE_RULE,
    "pickle present only as a local header, absent from the directory",
)
def _torch_unlisted(path: Path) -> None:
    archive = _zip([(f"{TORCH_PREFIX}/hidden.pkl", PAYLOAD), *_torch_members(EMPTY_DICT)])
    path.write_bytes(_drop_from_directory(archive, f"{TORCH_PREFIX}/hidden.pkl"))


def zip64_archive(members: Iterable[tuple[str, bytes]]) -> bytes:
    """A zip whose directory, offsets and end record all use zip64 forms (zipfile's limit lowered)."""
    limit = zipfile.ZIP64_LIMIT
    zipfile.ZIP64_LIMIT = 8  # a stdlib module constant, restored below
    try:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in members:
                with archive.open(name, "w", force_zip64=True) as handle:
                    handle.write(data)
        return buffer.getvalue()
    finally:
        zipfile.ZIP64_LIMIT = limit


@malicious("torch/zip_zip64.pt", PICKLE_RULE, "torch zip with zip64 extra fields, directory and end records")
def _torch_zip64(path: Path) -> None:
    path.write_bytes(zip64_archive(_torch_members(PAYLOAD)))


@malicious("torch/zip_bzip2_members.pt", PICKLE_RULE, "torch zip whose members are bzip2-compressed")
def _torch_bzip2(path: Path) -> None:
    path.write_bytes(_torch_zip(method=zipfile.ZIP_BZIP2))


@malicious("torch/zip_lzma_members.pt", PICKLE_RULE, "torch zip whose members are LZMA-compressed")
def _torch_lzma(path: Path) -> None:
    path.write_bytes(_torch_zip(method=zipfile.ZIP_LZMA))


@malicious(
    "torch/zip_duplicate_data_pkl.pt", PICKLE_RULE, "two data.pkl members: benign first, payload second"
)
def _torch_duplicate(path: Path) -> None:
    path.write_bytes(_zip([*_torch_members(EMPTY_DICT), (f"{TORCH_PREFIX}/data.pkl", PAYLOAD)]))


@malicious("torch/nested_torch_in_zip.zip", PICKLE_RULE, "malicious torch zip stored inside a plain zip")
def _torch_nested(path: Path) -> None:
    path.write_bytes(_zip([("models/model.pt", _torch_zip()), ("README.txt", b"a model\n")]))


@malicious(
    "torch/torchscript_constants.pt",
    PICKLE_RULE,
    "TorchScript archive whose constants.pkl calls posix.system",
)
def _torchscript_constants(path: Path) -> None:
    path.write_bytes(_zip(_torchscript(constants=PAYLOAD)))


@malicious(
    "torch/torchscript_tampered_code.pt", "MLV203", "TorchScript code/ edited to call __import__('os').system"
)
def _torchscript_code(path: Path) -> None:
    path.write_bytes(_zip(_torchscript("_0 = __import__('os').system('true')"), zipfile.ZIP_DEFLATED))


@malicious("torch/torchscript_extra_file.pt", PICKLE_RULE, "TorchScript archive with a pickle in extra/")
def _torchscript_extra(path: Path) -> None:
    path.write_bytes(_zip([*_torchscript(), (f"{TORCH_PREFIX}/extra/config.pkl", PAYLOAD)]))


# ---------------------------------------------------------------- malicious: legacy PyTorch


@malicious(
    "torch/legacy_payload_4th_pickle.pt",
    PICKLE_RULE,
    "legacy torch file, payload in the object pickle (3b-43)",
)
def _legacy_fourth(path: Path) -> None:
    path.write_bytes(_legacy_torch(PAYLOAD))


@malicious(
    "torch/legacy_eval_magic.pt",
    PICKLE_RULE,
    "legacy torch file whose magic number is computed by eval (3b-42)",
)
def _legacy_eval_magic(path: Path) -> None:
    magic = b"c__builtin__\neval\n(X\x16\x00\x00\x000x1950a86a20f9469cfc6ctR."
    path.write_bytes(_legacy_torch(PAYLOAD, magic=b"\x80\x02" + magic))


@malicious(
    "torch/legacy_tar.pt", PICKLE_RULE, "legacy tar torch format whose 'pickle' member is malicious (3b-44)"
)
def _legacy_tar(path: Path) -> None:
    sys_info = b"\x80\x02}q\x00X\x10\x00\x00\x00protocol_versionq\x01M\xe9\x03s."
    count = b"\x80\x02K\x00."
    members = [
        _file("sys_info", sys_info),
        _file("pickle", PAYLOAD),
        _file("storages", count),
        _file("tensors", count),
    ]
    path.write_bytes(_tar(members))


# ---------------------------------------------------------------- malicious: NumPy


@malicious(
    "numpy/object_array.npy", PICKLE_RULE, "object-dtype .npy whose data pickle calls posix.system (3b-45)"
)
def _npy_object(path: Path) -> None:
    path.write_bytes(_npy("|O", (1,), PAYLOAD))


@malicious("numpy/object_array_v2.npy", PICKLE_RULE, "object-dtype .npy with a version 2.0 header")
def _npy_object_v2(path: Path) -> None:
    path.write_bytes(_npy("|O", (1,), PAYLOAD, version=2))


@malicious("numpy/structured_object_field.npy", PICKLE_RULE, "structured dtype with one object field")
def _npy_structured(path: Path) -> None:
    path.write_bytes(_npy([("a", "<i4"), ("b", "|O")], (1,), PAYLOAD))


@malicious("numpy/object_array.npz", PICKLE_RULE, ".npz holding a malicious object array")
def _npz_object(path: Path) -> None:
    path.write_bytes(
        _zip([("weights.npy", _npy("<f4", (2,), b"\0" * 8)), ("labels.npy", _npy("|O", (1,), PAYLOAD))])
    )


@malicious("numpy/object_array_compressed.npz", PICKLE_RULE, "deflated .npz holding a malicious object array")
def _npz_object_compressed(path: Path) -> None:
    path.write_bytes(_zip([("labels.npy", _npy("|O", (1,), PAYLOAD))], zipfile.ZIP_DEFLATED))


# ---------------------------------------------------------------- malicious: joblib


@malicious(
    "joblib/plain_payload.joblib", PICKLE_RULE, "uncompressed joblib file (a pickle) calling posix.system"
)
def _joblib_plain(path: Path) -> None:
    path.write_bytes(PAYLOAD)


def _joblib_compressed(name: str, compress: bytes) -> Sample:
    @malicious(f"joblib/{name}_payload.joblib", PICKLE_RULE, f"joblib {name}-compressed pickle (3b-46)")
    def build(path: Path) -> None:
        path.write_bytes(compress)

    return build


# ---------------------------------------------------------------- malicious: archives and streams


def _compressed_pickle(name: str, data: bytes, technique: str) -> Sample:
    @malicious(f"archive/{name}", PICKLE_RULE, technique)
    def build(path: Path) -> None:
        path.write_bytes(data)

    return build


@malicious("archive/payload.zst", PICKLE_RULE, "zstd-compressed pickle")
def _zstd_pickle(path: Path) -> None:
    import zstandard

    path.write_bytes(zstandard.ZstdCompressor().compress(PAYLOAD))


@malicious("archive/zip_slip.zip", "MLV701", "zip member named ../../.bashrc (zip-slip)")
def _zip_slip(path: Path) -> None:
    path.write_bytes(_zip([("model.txt", b"weights\n"), ("../../.bashrc", b"echo mlvet-test\n")]))


@malicious(
    "archive/zip_backslash_slip.zip", "MLV701", "zip member named ..\\..\\evil.txt (Windows separators)"
)
def _zip_backslash(path: Path) -> None:
    path.write_bytes(_zip([("..\\..\\evil.txt", b"echo mlvet-test\n")]))


@malicious("archive/zip_symlink.zip", "MLV702", "zip member stored as a Unix symlink to ~/.ssh")
def _zip_symlink(path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo("model/ssh")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        archive.writestr(info, "/root/.ssh")
    path.write_bytes(buffer.getvalue())


@malicious("archive/zip_bomb.zip", "MLV703", "20 MiB of zeros deflated to ~20 KiB (ratio ~1000)")
def _zip_bomb(path: Path) -> None:
    path.write_bytes(_zip([("weights.bin", bytes(20 << 20))], zipfile.ZIP_DEFLATED))


@malicious("archive/zip_overlap_bomb.zip", "MLV703", "many directory entries sharing one compressed block")
def _zip_overlap(path: Path) -> None:
    archive = _zip([("a.bin", bytes(1 << 16))], zipfile.ZIP_DEFLATED)
    directory = archive.find(b"PK\x01\x02")
    eocd = archive.rfind(b"PK\x05\x06")
    record = archive[directory:eocd]
    copies = [record.replace(b"a.bin", f"{i}.bin".encode()) for i in "bcdefgh"]
    body = record + b"".join(copies)
    tail = bytearray(archive[eocd:])
    struct.pack_into("<HHL", tail, 8, 8, 8, len(body))
    path.write_bytes(archive[:directory] + body + bytes(tail))


@malicious("archive/gzip_bomb.gz", "MLV703", "20 MiB of zeros gzipped (ratio ~1000)")
def _gzip_bomb(path: Path) -> None:
    path.write_bytes(gzip.compress(bytes(20 << 20), mtime=0))


@malicious("archive/gzip_multimember.gz", PICKLE_RULE, "pickle split across two gzip members")
def _gzip_members(path: Path) -> None:
    path.write_bytes(gzip.compress(PAYLOAD[:12], mtime=0) + gzip.compress(PAYLOAD[12:], mtime=0))


@malicious("archive/tar_traversal.tar", "MLV701", "tar member named ../../etc/cron.d/job")
def _tar_traversal(path: Path) -> None:
    path.write_bytes(
        _tar([_file("model.txt", b"weights\n"), _file("../../etc/cron.d/job", b"# mlvet-test\n")])
    )


@malicious("archive/tar_symlink.tar", "MLV702", "tar symlink member pointing at /root/.ssh")
def _tar_symlink(path: Path) -> None:
    path.write_bytes(_tar([_link("model/keys", "/root/.ssh", tarfile.SYMTYPE)]))


@malicious("archive/tar_hardlink.tar", "MLV702", "tar hard link member to /etc/passwd")
def _tar_hardlink(path: Path) -> None:
    path.write_bytes(_tar([_link("model/passwd", "/etc/passwd", tarfile.LNKTYPE)]))


@malicious("archive/model.tar.gz", PICKLE_RULE, "tar.gz bundle holding a malicious model.pkl")
def _tar_gz(path: Path) -> None:
    path.write_bytes(_tar([_file("README.md", b"# model\n"), _file("model/model.pkl", PAYLOAD)], mode="w:gz"))


@malicious(
    "archive/model.7z", PICKLE_RULE, "7z holding a malicious model.bin, not a pickle extension (3b-36)"
)
def _sevenzip(path: Path) -> None:
    import py7zr

    with py7zr.SevenZipFile(path, "w") as archive:
        archive.writestr(PAYLOAD, "model.bin")
        archive.writestr(b"# model\n", "README.md")


# ---------------------------------------------------------------- benign (written by the libraries)


def _tiny_module() -> object:
    import torch

    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))


@benign("torch/benign_state_dict.pt", "torch.save of a state_dict")
def _benign_state_dict(path: Path) -> None:
    import torch

    torch.save(_tiny_module().state_dict(), path)


@benign("torch/benign_module.pt", "torch.save of a whole nn.Sequential")
def _benign_module(path: Path) -> None:
    import torch

    torch.save(_tiny_module(), path)


@benign("torch/benign_checkpoint.pt", "torch.save of model + optimizer state + epoch")
def _benign_checkpoint(path: Path) -> None:
    import torch

    module = _tiny_module()
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1, momentum=0.9)
    module(torch.ones(1, 4)).sum().backward()
    optimizer.step()
    checkpoint = {"model": module.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}
    torch.save(checkpoint, path)


@benign("torch/benign_legacy.pt", "torch.save with _use_new_zipfile_serialization=False")
def _benign_legacy(path: Path) -> None:
    import torch

    torch.save(_tiny_module().state_dict(), path, _use_new_zipfile_serialization=False)


@benign("torch/benign_torchscript.pt", "torch.jit.save of a scripted nn.Sequential")
def _benign_torchscript(path: Path) -> None:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, still widely used
        torch.jit.save(torch.jit.script(_tiny_module()), str(path))


@benign("torch/benign_training_run.pt", "torch.save of a bf16 conv/batch-norm model, AdamW, scheduler, RNG")
def _benign_training_run(path: Path) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.zeros(1, 3, 8, 8)).sum().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, 10)
    state = {
        "model": model.to(torch.bfloat16).state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "rng": torch.get_rng_state(),
        "step": 100,
    }
    torch.save(state, path)


@benign("torch/benign_transformer_module.pt", "torch.save of a whole nn.TransformerEncoder and an LSTM")
def _benign_transformer_module(path: Path) -> None:
    import torch
    from torch import nn

    torch.manual_seed(0)
    encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 2, 32), 1, enable_nested_tensor=False)
    torch.save({"encoder": encoder, "lstm": nn.LSTM(4, 8)}, path)


@benign("torch/benign_quantized_state_dict.pt", "state dict of a dynamically quantized (qint8) model")
def _benign_quantized(path: Path) -> None:
    import torch
    from torch import nn

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # eager-mode quantization is deprecated in favour of torchao
        model = torch.ao.quantization.quantize_dynamic(
            nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)), {nn.Linear}, dtype=torch.qint8
        )
    torch.save(model.state_dict(), path)


def _sklearn_model() -> object:
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    features = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [1.0, 1.0]])
    return LogisticRegression().fit(features, np.array([0, 1, 0, 1]))


@benign("joblib/benign_sklearn.joblib", "joblib.dump of a LogisticRegression, uncompressed")
def _benign_joblib(path: Path) -> None:
    import joblib

    joblib.dump(_sklearn_model(), path)


def _benign_joblib_compressed(method: str) -> Sample:
    @benign(f"joblib/benign_sklearn_{method}.joblib", f"joblib.dump(compress=('{method}', 3))")
    def build(path: Path) -> None:
        import joblib

        joblib.dump(_sklearn_model(), path, compress=(method, 3))

    return build


@benign("numpy/benign.npy", "np.save of a float array")
def _benign_npy(path: Path) -> None:
    import numpy as np

    with path.open("wb") as handle:
        np.save(handle, np.arange(12, dtype=np.float32).reshape(3, 4))


@benign("numpy/benign.npz", "np.savez of two arrays")
def _benign_npz(path: Path) -> None:
    import numpy as np

    with path.open("wb") as handle:
        np.savez(handle, weights=np.ones((2, 3)), bias=np.zeros(3, dtype=np.int64))


@benign("numpy/benign_compressed.npz", "np.savez_compressed of two arrays")
def _benign_npz_compressed(path: Path) -> None:
    import numpy as np

    with path.open("wb") as handle:
        np.savez_compressed(handle, weights=np.ones((2, 3)), labels=np.array(["a", "b"]))


def _benign_bundle() -> list[tuple[str, bytes]]:
    import numpy as np
    import torch

    model, array = io.BytesIO(), io.BytesIO()
    torch.save(_tiny_module().state_dict(), model)
    np.save(array, np.arange(4, dtype=np.float64))
    return [
        ("bundle/model.pt", model.getvalue()),
        ("bundle/mean.npy", array.getvalue()),
        ("bundle/README.md", b"# x\n"),
    ]


@benign("archive/benign_bundle.tar.gz", "tar.gz of a torch state_dict and an .npy (tarfile)")
def _benign_tar_gz(path: Path) -> None:
    path.write_bytes(_tar([_file(name, data) for name, data in _benign_bundle()], mode="w:gz"))


@benign("archive/benign_bundle.zip", "deflated zip of a torch state_dict and an .npy (zipfile)")
def _benign_zip(path: Path) -> None:
    path.write_bytes(_zip(_benign_bundle(), zipfile.ZIP_DEFLATED))


@benign("archive/benign_model.7z", "7z of a torch state_dict (py7zr)")
def _benign_7z(path: Path) -> None:
    import py7zr

    with py7zr.SevenZipFile(path, "w") as archive:
        for name, data in _benign_bundle():
            archive.writestr(data, name)


SAMPLES: list[Sample] = [
    _torch_data_pkl,
    _torch_junk_prefix,
    *(_flag_sample(flag) for flag in (0x1, 0x20, 0x40)),
    _torch_crc,
    _torch_renamed,
    _torch_data_txt,
    _torch_bin,
    _torch_storage,
    _torch_no_directory,
    _torch_unlisted,
    _torch_zip64,
    _torch_bzip2,
    _torch_lzma,
    _torch_duplicate,
    _torch_nested,
    _torchscript_constants,
    _torchscript_code,
    _torchscript_extra,
    _legacy_fourth,
    _legacy_eval_magic,
    _legacy_tar,
    _npy_object,
    _npy_object_v2,
    _npy_structured,
    _npz_object,
    _npz_object_compressed,
    _joblib_plain,
    _joblib_compressed("zlib", zlib.compress(PAYLOAD, 3)),
    _joblib_compressed("gzip", gzip.compress(PAYLOAD, 3, mtime=0)),
    _joblib_compressed("bz2", bz2.compress(PAYLOAD, 3)),
    _joblib_compressed("lzma", lzma.compress(PAYLOAD, lzma.FORMAT_ALONE, preset=3)),
    _joblib_compressed("xz", lzma.compress(PAYLOAD, lzma.FORMAT_XZ, check=lzma.CHECK_CRC64, preset=3)),
    _compressed_pickle("payload.pkl.gz", gzip.compress(PAYLOAD, mtime=0), "gzip-compressed pickle"),
    _compressed_pickle("payload.pkl.bz2", bz2.compress(PAYLOAD), "bzip2-compressed pickle"),
    _compressed_pickle("payload.pkl.xz", lzma.compress(PAYLOAD), "xz-compressed pickle"),
    _zstd_pickle,
    _zip_slip,
    _zip_backslash,
    _zip_symlink,
    _zip_bomb,
    _zip_overlap,
    _gzip_bomb,
    _gzip_members,
    _tar_traversal,
    _tar_symlink,
    _tar_hardlink,
    _tar_gz,
    _sevenzip,
    _benign_state_dict,
    _benign_module,
    _benign_checkpoint,
    _benign_legacy,
    _benign_torchscript,
    _benign_training_run,
    _benign_transformer_module,
    _benign_quantized,
    _benign_joblib,
    *(_benign_joblib_compressed(method) for method in ("zlib", "gzip", "bz2", "lzma", "xz")),
    _benign_npy,
    _benign_npz,
    _benign_npz_compressed,
    _benign_tar_gz,
    _benign_zip,
    _benign_7z,
]
