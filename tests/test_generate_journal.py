"""The generate journal survives a kill in the middle of a write."""

from docs2qa.generation.qa import journal


def test_append_after_a_half_written_line_loses_nothing(tmp_path):
    path = tmp_path / journal.UNITS
    journal.append(path, [{"unit": "a"}])
    with open(path, "ab") as handle:
        handle.write(b'{"unit": "b", "pai')  # the write a SIGKILL interrupted
    assert [r["unit"] for r in journal.read(path)] == ["a"]
    journal.append(path, [{"unit": "c"}])
    assert [r["unit"] for r in journal.read(path)] == ["a", "c"]
    assert journal.finished_units(tmp_path).keys() == {"a", "c"}


def _append_units(path: str, start) -> None:
    start.wait()
    for i in range(0, 60, 3):
        journal.append(path, [{"unit": f"u{j}", "pairs": ["x" * 2000]} for j in range(i, i + 3)])


def test_two_writers_never_journal_a_unit_twice(tmp_path):
    """A pipeline that outlived its CLI and the rerun's pipeline, appending the same units."""
    import multiprocessing

    path = str(tmp_path / journal.UNITS)
    context = multiprocessing.get_context("spawn")
    start = context.Event()
    writers = [context.Process(target=_append_units, args=(path, start)) for _ in range(2)]
    for writer in writers:
        writer.start()
    start.set()
    for writer in writers:
        writer.join(60)
        assert writer.exitcode == 0
    units = [r["unit"] for r in journal.read(path)]
    assert sorted(units) == sorted(f"u{j}" for j in range(60))


def test_append_returns_what_it_wrote_and_reading_counts_a_unit_once(tmp_path):
    path = tmp_path / journal.UNITS
    assert journal.append(path, [{"unit": "a", "n": 1}, {"unit": "a", "n": 2}]) == [{"unit": "a", "n": 1}]
    assert journal.append(path, [{"unit": "a", "n": 3}, {"unit": "b", "n": 1}]) == [{"unit": "b", "n": 1}]
    with open(path, "ab") as handle:  # a journal from before appends skipped known units
        handle.write(b'{"unit": "b", "n": 2}\n')
    assert journal.finished_units(tmp_path) == {"a": {"unit": "a", "n": 1}, "b": {"unit": "b", "n": 1}}
