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
