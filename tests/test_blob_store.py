"""The page blob store: content-addressed bodies checked against their names, and safe when
many crawl threads store the same body at once."""

from __future__ import annotations

import threading

import pytest

from docs2qa.errors import IntegrityError
from docs2qa.fsio import atomic_write_bytes
from docs2qa.records import sha256_hex
from docs2qa.store import BlobStore


def together(calls: list) -> tuple[list, list[BaseException]]:
    """Run the calls in threads released at once: (their results, the exceptions they raised)."""
    start = threading.Barrier(len(calls))
    results: list = []
    errors: list[BaseException] = []

    def run(call) -> None:
        start.wait()
        try:
            results.append(call())
        except BaseException as exc:
            errors.append(exc)

    workers = [threading.Thread(target=run, args=(call,)) for call in calls]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    return results, errors


def test_many_threads_storing_one_body_all_succeed(tmp_path):
    """They used to share one temp file name: the first rename pulled it from under the others
    (FileNotFoundError, in a real crawl `index.html` dropped as crawl_error)."""
    blobs = BlobStore(tmp_path / "blobs")
    for round_ in range(10):
        body = f"<html>page {round_}</html>".encode() * 50_000  # ~1 MB: the writes overlap
        digests, errors = together([lambda body=body: blobs.put(body)] * 16)
        assert errors == [], f"round {round_}: {errors[:3]}"
        assert digests == [sha256_hex(body)] * 16
        assert blobs.get(digests[0]) == body
    leftovers = [p.name for p in (tmp_path / "blobs").rglob("*") if p.is_file() and p.name.startswith(".")]
    assert leftovers == []


def test_atomic_writes_of_one_file_from_many_threads_leave_one_whole_file(tmp_path):
    target = tmp_path / "f.bin"
    bodies = [bytes([i]) * 200_000 for i in range(16)]
    _results, errors = together([lambda body=body: atomic_write_bytes(target, body) for body in bodies])
    assert errors == [] and target.read_bytes() in bodies
    assert [p.name for p in tmp_path.iterdir()] == ["f.bin"]


def test_a_flipped_byte_is_found_on_read_and_replaced_when_the_body_is_stored_again(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    body = b"<p>The accelerator is configured per node.</p>"
    digest = blobs.put(body)
    path = blobs.path(digest)
    path.write_bytes(body.replace(b"accelerator", b"acceleZator"))
    with pytest.raises(IntegrityError, match="bytes no longer match the hash that names it") as err:
        blobs.get(digest)
    assert str(path) in str(err.value) and "docs2qa crawl" in str(err.value)
    assert not blobs.has(digest)  # so the crawl asks for the page whole, not "has it changed?"
    assert blobs.put(body) == digest
    assert blobs.get(digest) == body and blobs.has(digest)


def test_a_missing_body_is_an_integrity_error(tmp_path):
    blobs = BlobStore(tmp_path / "blobs")
    digest = blobs.put(b"x")
    blobs.path(digest).unlink()
    with pytest.raises(IntegrityError, match="is missing"):
        blobs.get(digest)
