"""Export archives: spooled to disk, validated as zip, members read in (date, hour, part) order."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from typing import TYPE_CHECKING

import pytest
import requests

from tap_amplitude import export
from tap_amplitude.export import ExportArchiveError, ExportDownloadError

if TYPE_CHECKING:
    from pathlib import Path


def gz_lines(*rows: object, blank: bool = False) -> bytes:
    text = "".join(json.dumps(row) + "\n" + ("\n" if blank else "") for row in rows)
    return gzip.compress(text.encode())


def build_zip(members: dict[str, bytes], directory: str | None = None) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        if directory:
            archive.writestr(directory + "/", b"")
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def fake_response(body: bytes, content_length: int | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = 200
    response.raw = io.BytesIO(body)
    length = len(body) if content_length is None else content_length
    response.headers["Content-Length"] = str(length)
    return response


def write_zip(tmp_path: Path, members: dict[str, bytes]) -> Path:
    path = tmp_path / "export.zip"
    path.write_bytes(build_zip(members, directory="187520"))
    return path


def test_members_are_read_in_date_hour_part_order(tmp_path: Path) -> None:
    names = [
        "187520/187520_2024-03-02_10#0.json.gz",
        "187520/187520_2024-03-02_2#1.json.gz",
        "187520/187520_2024-03-01_23#0.json.gz",
        "187520/187520_2024-03-02_2#0.json.gz",
        "187520/187520_2024-03-02_9#0.json.gz",
    ]
    members = {name: gz_lines({"uuid": name}) for name in names}
    path = write_zip(tmp_path, members)
    order = [record["uuid"] for record in export.iter_archive_records(path)]
    assert order == [
        "187520/187520_2024-03-01_23#0.json.gz",
        "187520/187520_2024-03-02_2#0.json.gz",
        "187520/187520_2024-03-02_2#1.json.gz",
        "187520/187520_2024-03-02_9#0.json.gz",  # not lexicographic: 9 before 10
        "187520/187520_2024-03-02_10#0.json.gz",
    ]


def test_every_line_of_multi_part_hours_is_read_and_blank_lines_skipped(tmp_path: Path) -> None:
    members = {
        "187520/187520_2024-03-02_0#0.json.gz": gz_lines({"uuid": "a"}, {"uuid": "b"}, blank=True),
        "187520/187520_2024-03-02_0#1.json.gz": gz_lines({"uuid": "c"}),
        "187520/187520_2024-03-02_0#2.json.gz": gzip.compress(b""),  # an empty part
        "export.json.gz": gz_lines({"uuid": "flat"}),  # unknown names still read, last
        "187520/187520_2024-03-02_1#0.json": b'{"uuid": "plain"}\n',  # not gzipped
    }
    path = write_zip(tmp_path, members)
    assert [r["uuid"] for r in export.iter_archive_records(path)] == [
        "a",
        "b",
        "c",
        "plain",
        "flat",
    ]


def test_corrupt_line_names_the_member_and_line(tmp_path: Path) -> None:
    body = b'{"uuid": "a"}\n{"uuid": "b"}\n{"uuid": \n'
    path = write_zip(tmp_path, {"187520/187520_2024-03-02_4#0.json.gz": gzip.compress(body)})
    records = export.iter_archive_records(path)
    assert [next(records)["uuid"], next(records)["uuid"]] == ["a", "b"]
    with pytest.raises(ExportArchiveError, match=r"'187520/187520_2024-03-02_4#0.json.gz', line 3"):
        next(records)


def test_line_that_is_not_an_object_is_corrupt(tmp_path: Path) -> None:
    path = write_zip(tmp_path, {"p_2024-03-02_4#0.json.gz": gzip.compress(b"[1, 2]\n")})
    with pytest.raises(ExportArchiveError, match="line 1"):
        list(export.iter_archive_records(path))


def test_broken_gzip_member_names_the_member(tmp_path: Path) -> None:
    broken = gz_lines({"uuid": "a"})[:-12]
    path = write_zip(tmp_path, {"p_2024-03-02_4#0.json.gz": broken})
    with pytest.raises(ExportArchiveError, match=r"p_2024-03-02_4#0\.json\.gz"):
        list(export.iter_archive_records(path))


def test_whole_zip_is_spooled_to_a_temp_file(tmp_path: Path) -> None:
    body = build_zip({"p_2024-03-02_4#0.json.gz": gz_lines({"uuid": "a"})})
    path = export.spool_to_file(fake_response(body), str(tmp_path))
    assert path.read_bytes() == body
    assert path.name.startswith(export.TEMP_PREFIX)
    assert [r["uuid"] for r in export.iter_archive_records(path)] == ["a"]


def test_empty_archive_is_valid(tmp_path: Path) -> None:
    path = export.spool_to_file(fake_response(build_zip({})), str(tmp_path))
    assert list(export.iter_archive_records(path)) == []


@pytest.mark.parametrize(
    ("body_of", "message"),
    [
        (lambda whole: whole[: len(whole) // 2], "truncated or corrupt"),
        (lambda _: b"<html><body>Rate limited</body></html>", "not a zip archive"),
        (lambda _: b"", "not a zip archive"),
    ],
)
def test_bad_body_is_retriable_and_leaves_no_temp_file(
    tmp_path: Path, body_of: object, message: str
) -> None:
    whole = build_zip({"p_2024-03-02_4#0.json.gz": gz_lines({"uuid": "a"}) * 50})
    body = body_of(whole)  # type: ignore[operator]
    with pytest.raises(ExportDownloadError, match=message):
        export.spool_to_file(fake_response(body), str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_body_shorter_than_content_length_is_retriable(tmp_path: Path) -> None:
    whole = build_zip({"p_2024-03-02_4#0.json.gz": gz_lines({"uuid": "a"})})
    with pytest.raises(ExportDownloadError, match=f"after {len(whole)} of {len(whole) + 10}"):
        export.spool_to_file(fake_response(whole, len(whole) + 10), str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_member_names_without_the_pattern_sort_after_known_ones() -> None:
    assert export.member_sort_key("x/1_2024-01-01_0#0.json.gz") < export.member_sort_key("a.gz")
