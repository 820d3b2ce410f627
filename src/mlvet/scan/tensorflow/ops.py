"""TensorFlow operations that reach outside the tensor world: the table the graph scan applies.

Every op a TensorFlow graph can name is one of TensorFlow's registered kernels; a SavedModel cannot
bring code of its own except through Python callbacks. What a malicious graph *can* do is name
ops that call back into the loading Python process, touch the file system, read the host, or talk
to the network. Those ops are listed here with the reason, grouped by what they reach.

Deliberately absent: variable ops (``ReadVariableOp``, ``VarHandleOp``) read model state, not the
host; random ops are seeded, not environmental; ``Print``/``PrintV2`` only reach stderr unless
``output_stream`` names a file (checked in ``tensorflow.py``); collective and ``Send``/``Recv`` ops
only talk to workers the loading program configured itself; ``RemoteCall`` runs a function on a
device of that same configuration.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reach(enum.Enum):
    """What an op reaches outside the graph."""

    PYTHON = "python callback"
    FILES = "file system"
    ENVIRONMENT = "host environment"
    NETWORK = "network"


@dataclass(frozen=True)
class OpRisk:
    reach: Reach
    why: str
    writes: bool = False
    """True when the op creates, overwrites or deletes files."""
    routine: bool = False
    """True for file ops that ordinary models use (vocabulary files): reported at medium."""


def _ops(
    reach: Reach, why: str, names: str, *, writes: bool = False, routine: bool = False
) -> dict[str, OpRisk]:
    risk = OpRisk(reach, why, writes, routine)
    return dict.fromkeys(names.split(), risk)


CHECKPOINT_OPS = frozenset(
    [
        "Save", "SaveV2", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints",
        "DTensorRestoreV2",
    ]
)  # fmt: skip
"""File ops every SavedModel has in its saver: harmless there, reported anywhere else."""

OPS: dict[str, OpRisk] = {
    **_ops(
        Reach.PYTHON,
        "calls a Python function registered in the loading process (tf.py_function, tf.numpy_function)",
        "PyFunc PyFuncStateless EagerPyFunc PyCall",
    ),
    **_ops(Reach.FILES, "reads any file into a tensor", "ReadFile ImmutableConst"),
    **_ops(Reach.FILES, "writes a tensor to any file", "WriteFile", writes=True),
    **_ops(
        Reach.FILES,
        "lists directories matching a pattern",
        "MatchingFiles MatchingFilesDataset ExperimentalMatchingFilesDataset",
    ),
    **_ops(
        Reach.FILES,
        "writes or merges checkpoint files (and deletes the merged ones)",
        "Save SaveV2 SaveSlices MergeV2Checkpoints",
        writes=True,
    ),
    **_ops(
        Reach.FILES,
        "reads checkpoint files",
        "Restore RestoreV2 RestoreSlice DTensorRestoreV2 LoadAndRemapMatrix",
    ),
    **_ops(
        Reach.FILES,
        "reads records from files",
        "WholeFileReader WholeFileReaderV2 TextLineReader TextLineReaderV2 TFRecordReader "
        "TFRecordReaderV2 FixedLengthRecordReader FixedLengthRecordReaderV2 LMDBReader "
        "TFRecordDataset TFRecordDatasetV2 TextLineDataset FixedLengthRecordDataset "
        "FixedLengthRecordDatasetV2 LMDBDataset ExperimentalLMDBDataset CSVDataset CSVDatasetV2 "
        "ExperimentalCSVDataset LoadDataset ExperimentalLoadDataset SqlDataset ExperimentalSqlDataset "
        "RecordInput SnapshotDatasetReader SnapshotNestedDatasetReader SnapshotChunkDataset "
        "ListSnapshotChunksDataset",
    ),
    **_ops(
        Reach.FILES,
        "writes datasets, snapshots, caches or summaries to files",
        "SaveDataset SaveDatasetV2 DatasetToTFRecord ExperimentalDatasetToTFRecord SnapshotDataset "
        "SnapshotDatasetV2 CreateSummaryFileWriter CreateSummaryDbWriter WriteSummary "
        "WriteScalarSummary WriteHistogramSummary WriteImageSummary WriteAudioSummary "
        "WriteGraphSummary WriteRawProtoSummary ImportEvent DistributedSave",
        writes=True,
    ),
    **_ops(
        Reach.FILES,
        "caches a dataset in files when given a file name (in memory otherwise)",
        "CacheDataset CacheDatasetV2",
        writes=True,
        routine=True,
    ),
    **_ops(
        Reach.FILES,
        "reads a text file into a lookup table (normal for vocabulary assets)",
        "InitializeTableFromTextFile InitializeTableFromTextFileV2",
        routine=True,
    ),
    **_ops(
        Reach.ENVIRONMENT,
        "reads the host clock (a time-triggered branch needs it)",
        "Timestamp",
    ),
    **_ops(
        Reach.NETWORK,
        "makes RPC calls or serves RPCs",
        "Rpc TryRpc RpcClient RpcCall RpcCheckStatus RpcGetValue RpcServer RpcServerStart RpcServerRegister",
    ),
    **_ops(
        Reach.NETWORK,
        "connects to a tf.data service at an address from the graph",
        "DataServiceDataset DataServiceDatasetV2 DataServiceDatasetV3 DataServiceDatasetV4 "
        "RegisterDataset RegisterDatasetV2",
    ),
    **_ops(
        Reach.NETWORK,
        "configures file systems or cloud storage credentials",
        "GcsConfigureCredentials GcsConfigureBlockCache FileSystemSetConfiguration",
    ),
}

DEBUG_OPS = frozenset(
    ["DebugIdentity", "DebugNanCount", "DebugNumericSummary", "DebugIdentityV2", "DebugIdentityV3"]
)
"""Debugger taps: harmless unless their ``debug_urls`` or ``dump_root`` send data to files or hosts."""

PROTO_OPS = frozenset(["DecodeProtoV2", "EncodeProto"])
"""Read a descriptor file when ``descriptor_source`` is not the built-in ``local://`` pool."""

PRINT_OPS = frozenset({"PrintV2"})
"""Appends to a file when ``output_stream`` is ``file://...``."""
