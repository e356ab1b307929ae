"""Small-cell suppression: an attacker with the published table cannot recover a withheld cell.

The proof is by brute force, independent of the algorithm under test: for every withheld cell we
search (depth first, with the table's sums as constraints) for a non-negative integer table
that agrees with every published number but differs in that cell. Finding one means the
published numbers do not pin the cell down.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest

from tracker.report_export import (
    SUPPRESSED_MARK,
    THRESHOLD,
    Cell,
    Table,
    csv_rows,
    is_protected,
    suppress,
    suppress_tables,
    with_margins,
)


def _constraints(table: Table) -> list[tuple[list[Cell], Cell]]:
    """(cells that add up, the total they add up to) for every row and column."""
    rows, cols = table.n_rows, table.n_cols
    out: list[tuple[list[Cell], Cell]] = []
    for i in range(rows + 1):
        out.append(([(i, j) for j in range(cols)], (i, cols)))
    for j in range(cols + 1):
        out.append(([(i, j) for i in range(rows)], (rows, j)))
    return out


def _alternative_exists(table: Table, target: Cell) -> bool:
    """Is there a table agreeing on every published cell with ``target`` changed?"""
    true_value = table.value(target)
    cap = table.value((table.n_rows, table.n_cols)) * 2 + 5
    unknown = sorted(table.suppressed)
    constraints = _constraints(table)
    values: dict[Cell, int] = {
        c: table.value(c) for c in _cells(table) if c not in table.suppressed
    }

    def consistent() -> bool:
        for parts, total in constraints:
            known = [values[p] for p in parts if p in values]
            if total in values:
                if len(known) == len(parts) and sum(known) != values[total]:
                    return False
                if sum(known) > values[total]:
                    return False
        return True

    def propagate() -> list[Cell]:
        """Fill variables forced by a constraint with one unknown; returns what it set."""
        assigned: list[Cell] = []
        changed = True
        while changed:
            changed = False
            for parts, total in constraints:
                missing = [p for p in [*parts, total] if p not in values]
                if len(missing) != 1:
                    continue
                m = missing[0]
                if m == total:
                    v = sum(values[p] for p in parts)
                else:
                    v = values[total] - sum(values[p] for p in parts if p != m)
                if v < 0 or v > cap or (m == target and v == true_value):
                    for a in assigned:
                        del values[a]
                    return [(-1, -1)]
                values[m] = v
                assigned.append(m)
                changed = True
        return assigned

    def search(index: int) -> bool:
        while index < len(unknown) and unknown[index] in values:
            index += 1
        if index == len(unknown):
            return consistent()
        cell = unknown[index]
        for v in range(cap + 1):
            if cell == target and v == true_value:
                continue
            values[cell] = v
            if consistent():
                forced = propagate()
                if forced != [(-1, -1)]:
                    if consistent() and search(index + 1):
                        return True
                    for f in forced:
                        del values[f]
            del values[cell]
        return False

    return search(0)


def _cells(table: Table) -> list[Cell]:
    return [(i, j) for i in range(table.n_rows + 1) for j in range(table.n_cols + 1)]


def _check_published(table: Table) -> None:
    for cell in _cells(table):
        if cell in table.suppressed:
            continue
        if table.value((table.n_rows, cell[1])) == 0:
            continue  # an outcome nobody had: its zeros describe no one
        assert table.value(cell) >= THRESHOLD, f"{cell} published with {table.value(cell)}"
        assert table.people[cell[0]][cell[1]] >= THRESHOLD


def _random_table(rng: random.Random, rows: int, cols: int) -> Table:
    counts = [
        [rng.choice([0, 1, 2, 3, 4, 5, 6, 8, 12, 20]) for _ in range(cols)] for _ in range(rows)
    ]
    return with_margins("t", [f"g{i}" for i in range(rows)], [f"o{j}" for j in range(cols)], counts)


@pytest.mark.parametrize("seed", range(40))
def test_no_withheld_cell_can_be_recovered_from_the_margins(seed: int) -> None:
    rng = random.Random(seed)
    table = suppress(_random_table(rng, rng.randint(2, 4), rng.randint(2, 3)))
    _check_published(table)
    for cell in sorted(table.suppressed):
        assert is_protected(table, cell)
        assert _alternative_exists(table, cell), f"seed {seed}: {cell} is recoverable"


def test_a_single_small_cell_gets_complementary_cells() -> None:
    table = suppress(
        with_margins("office", ["A", "B", "C"], ["granted", "denied"], [[3, 20], [15, 30], [9, 9]])
    )
    # The 3 alone would be recovered as 23 - 20: its row, its column, a partner cell go too.
    assert (0, 0) in table.suppressed
    assert len(table.suppressed) >= 4
    assert _alternative_exists(table, (0, 0))
    # Totals are kept whenever interior cells can protect the small one.
    assert (3, 2) not in table.suppressed


def test_the_brute_force_catches_a_naive_suppression() -> None:
    """Guard for the proof itself: withholding only the small cell is recoverable."""
    table = with_margins("office", ["A", "B"], ["granted", "denied"], [[3, 20], [15, 30]])
    table.suppressed = {(0, 0)}
    assert not is_protected(table, (0, 0))
    assert not _alternative_exists(table, (0, 0))


def test_people_threshold_withholds_cells_with_many_requests_of_few_people() -> None:
    people = [
        [frozenset({"p1", "p2"}), frozenset({f"q{k}" for k in range(9)})],
        [frozenset({f"r{k}" for k in range(8)}), frozenset({f"s{k}" for k in range(7)})],
    ]
    # Six requests, but from two people: that cell could single them out.
    table = suppress(with_margins("kind", ["A", "B"], ["x", "y"], [[6, 9], [8, 7]], people))
    assert (0, 0) in table.suppressed


def test_shared_totals_are_withheld_in_every_table() -> None:
    by_office = with_margins("office", ["A", "B"], ["granted", "denied"], [[2, 20], [1, 30]])
    by_race = with_margins("race", ["X", "Y"], ["granted", "denied"], [[1, 25], [2, 25]])
    suppress_tables([by_office, by_race])
    withheld = [{j for (i, j) in t.suppressed if i == t.n_rows} for t in (by_office, by_race)]
    assert withheld[0] == withheld[1] and withheld[0]
    for table in (by_office, by_race):
        _check_published(table)
        for cell in sorted(table.suppressed):
            assert _alternative_exists(table, cell)


def test_csv_rows_mark_withheld_cells() -> None:
    table = suppress(
        with_margins("office", ["A", "B", "C"], ["granted", "denied"], [[3, 20], [15, 30], [9, 9]])
    )
    rows = csv_rows([table])
    assert rows[0][:2] == ["office", "A"] and rows[0][3] == SUPPRESSED_MARK
    assert rows[-1][1] == "All"
    numbers: Sequence[str] = [v for r in rows for v in r[2:] if v != SUPPRESSED_MARK]
    assert all(int(v) >= THRESHOLD for v in numbers)
