"""The files of a BATCH message, read one record at a time (bounded memory for multi-GB files).

A BATCH message names files (its `manifest`) holding the stream's raw records: JSON Lines, gzipped
or not, or Parquet when pyarrow is installed. Each file is opened through fsspec (a plain path,
`file://` or any URL fsspec has a filesystem for) and streamed; a record is handed on as soon as
its line is decoded. A file that cannot be opened, decompressed or decoded raises
`BatchFileError` naming the file and line, so the run stops there and no STATE after it is
written.
"""

from __future__ import annotations

import gzip
import importlib
import posixpath
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, BinaryIO
from urllib.parse import urlsplit

import fsspec
import msgspec

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from types import ModuleType

JSONL = "jsonl"
PARQUET = "parquet"
FORMATS = (JSONL, PARQUET)
COMPRESSIONS = ("gzip", "none", None)
GZIP_MAGIC = b"\x1f\x8b"
PARQUET_ROWS_PER_CHUNK = 1_000  # rows decoded at once from a Parquet row group
READ_ERRORS = (OSError, EOFError, zlib.error)  # truncated/corrupt gzip, I/O, missing files

_DECODER = msgspec.json.Decoder()  # numbers stay int/float, as in RECORD messages


class BatchFileError(Exception):
    """A BATCH file that cannot be read: the run stops here, no STATE after it is written."""


def _secrets(url: str) -> list[str]:
    """Parts of a URL that may be credentials: user info and the query (signed URLs)."""
    parts = urlsplit(url)
    found = [parts.query] if parts.query else []
    if "@" in parts.netloc:
        found.append(parts.netloc.rsplit("@", 1)[0])
    return found


def masked(text: str, url: str) -> str:
    """`text` with the credentials of `url` replaced by `***` (errors may quote the URL)."""
    for secret in _secrets(url):
        text = text.replace(secret, "***")
    return text


@dataclass(frozen=True)
class BatchStorage:
    """Where BATCH files are read from: the manifest's URLs, or by file name under `root`."""

    root: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_config(cls, batch_config: Mapping[str, Any] | None) -> BatchStorage:
        """From the target's `batch_config` setting (`storage.root`, `storage.params`)."""
        storage = (batch_config or {}).get("storage") or {}
        return cls(root=storage.get("root") or None, params=dict(storage.get("params") or {}))

    def locate(self, url: str) -> str:
        """The URL to open: the manifest's, or its file name under `root` when one is set."""
        if self.root is None:
            return url
        name = posixpath.basename(urlsplit(url).path.rstrip("/")) or url
        return f"{self.root.rstrip('/')}/{name}"


@dataclass(frozen=True)
class BatchFile:
    """One manifest entry of one stream, with the encoding its BATCH message declared."""

    url: str
    stream: str
    encoding: Mapping[str, Any]

    def where(self, line: int | None = None, unit: str = "line") -> str:
        """How messages name this file (and a line or row in it)."""
        at = f", {unit} {line}" if line is not None else ""
        return f"BATCH file {masked(self.url, self.url)} (stream '{self.stream}'{at})"

    def error(self, text: str) -> BatchFileError:
        """An error about this file, with the URL's credentials masked wherever they appear."""
        return BatchFileError(masked(text, self.url))


def files_of(message: Mapping[str, Any]) -> list[BatchFile]:
    """The files a BATCH message names, in manifest order (a malformed message is an error)."""
    stream, encoding, manifest = message["stream"], message["encoding"], message["manifest"]
    if not isinstance(encoding, dict) or not isinstance(manifest, list):
        raise BatchFileError(
            f"BATCH message of stream '{stream}': `encoding` must be an object and `manifest` a "
            f"list of file URLs (got {type(encoding).__name__} and {type(manifest).__name__})."
        )
    return [BatchFile(str(url), stream, encoding) for url in manifest]


def read_batch_file(batch_file: BatchFile, storage: BatchStorage) -> Iterator[dict[str, Any]]:
    """Yield the file's records in order, one at a time; raise `BatchFileError` on a bad file."""
    file_format = batch_file.encoding.get("format")
    compression = batch_file.encoding.get("compression")
    if file_format not in FORMATS:
        raise batch_file.error(
            f"{batch_file.where()}: encoding format {file_format!r} is not supported "
            f"(target-amplitude reads {', '.join(FORMATS)})."
        )
    if compression not in COMPRESSIONS:
        raise batch_file.error(
            f"{batch_file.where()}: compression {compression!r} is not supported "
            "(target-amplitude reads gzip or none)."
        )
    parquet = _pyarrow_parquet(batch_file) if file_format == PARQUET else None
    location = storage.locate(batch_file.url)
    try:
        opened = fsspec.open(location, mode="rb", **storage.params)
        raw: BinaryIO = opened.open()
    except (*READ_ERRORS, ValueError, ImportError) as exc:
        at = f" at {location}" if location != batch_file.url else ""
        raise batch_file.error(f"{batch_file.where()} cannot be opened{at}: {_why(exc)}") from None
    with raw:
        if parquet is None:
            yield from _jsonl_records(batch_file, raw, compression)
        else:
            yield from _parquet_records(batch_file, raw, parquet)


def _jsonl_records(
    batch_file: BatchFile, raw: BinaryIO, compression: str | None
) -> Iterator[dict[str, Any]]:
    """Lines of a JSON Lines file, gunzipped when declared gzip or when it starts like gzip.

    singer-sdk 0.54's batch writer gzips even when the tap declares `compression: none`; a JSON
    line never starts with the gzip magic bytes, so sniffing them is unambiguous.
    """
    number = 0
    try:
        stream: BinaryIO = raw
        if compression == "gzip" or _starts_with_gzip(raw):
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        for number, line in enumerate(stream, start=1):
            if not line.strip():
                continue
            try:
                record = _DECODER.decode(line)
            except msgspec.DecodeError as exc:
                raise batch_file.error(
                    f"{batch_file.where(number)} is not valid JSON: {exc}. Nothing from this "
                    "line on was acknowledged; repair or re-extract the file and run again."
                ) from None
            if not isinstance(record, dict):
                raise batch_file.error(
                    f"{batch_file.where(number)} is a JSON {type(record).__name__}, not a "
                    "record object (BATCH files hold one raw record per line)."
                )
            yield record
    except READ_ERRORS as exc:
        raise batch_file.error(
            f"{batch_file.where()} cannot be read after line {number} "
            f"(truncated or corrupt file?): {_why(exc)}. Nothing from it on was acknowledged; "
            "re-extract the file and run again."
        ) from None


def _why(exc: BaseException) -> str:
    """The cause as messages quote it (not chained: it may quote the URL's credentials)."""
    return f"{type(exc).__name__}: {str(exc).rstrip('.')}"


def _starts_with_gzip(raw: BinaryIO) -> bool:
    """Whether the file starts with the gzip magic bytes (it is rewound afterwards)."""
    if not raw.seekable():
        return False
    head = raw.read(len(GZIP_MAGIC))
    raw.seek(0)
    return head == GZIP_MAGIC


def _pyarrow_parquet(batch_file: BatchFile) -> ModuleType:
    """The Parquet module of pyarrow, imported when a Parquet file comes (the `parquet` extra)."""
    try:
        return importlib.import_module("pyarrow.parquet")
    except ImportError as exc:
        raise batch_file.error(
            f"{batch_file.where()}: Parquet batch files need pyarrow, which cannot be imported "
            f"({_why(exc)}). Install `singer-amplitude[parquet]`, or set the tap's "
            "batch_config.encoding.format to jsonl."
        ) from None


def _parquet_records(
    batch_file: BatchFile, raw: BinaryIO, parquet: ModuleType
) -> Iterator[dict[str, Any]]:
    """Rows of a Parquet file, a chunk of rows decoded at a time.

    Row groups are read one at a time: memory holds one row group's compressed column chunks and
    one chunk of decoded rows (benchmarks/target_batch.py: flat from 200,000 to 1,000,000 rows in
    one row group). The codec (gzip, snappy, ...) is inside the file; `compression` is not applied.
    """
    row = 0
    try:
        reader = parquet.ParquetFile(raw)
        for group in range(reader.num_row_groups):
            chunks = reader.iter_batches(batch_size=PARQUET_ROWS_PER_CHUNK, row_groups=[group])
            for chunk in chunks:
                for record in chunk.to_pylist():
                    row += 1
                    yield record
    except (*READ_ERRORS, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise batch_file.error(
            f"{batch_file.where(row + 1, 'row')} cannot be read as Parquet: {_why(exc)}. Nothing "
            "from it on was acknowledged; re-extract the file and run again."
        ) from None
