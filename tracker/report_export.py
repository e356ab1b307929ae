"""Small-cell suppression for the public export: no published number singles out fewer than 5.

A public table is a two-way table of counts (rows: the groups of one breakdown, columns: the
outcomes) published with its row totals, column totals and grand total. Two steps:

1. **Primary suppression**: every cell (margins included) counting fewer than ``THRESHOLD``
   requests, or fewer than ``THRESHOLD`` distinct people, is withheld. Zeros too: "0 of the
   12 people from X were granted" tells what happened to each of them. The one exception is an
   outcome column that is empty for the whole table (no withdrawal at all, say): its zeros
   describe everybody and nobody in particular, and they are published.
2. **Complementary suppression**: a withheld cell must not be recoverable by arithmetic on the
   published ones. With the margins written as negatives, the table is a bipartite graph (rows
   and columns as nodes, cells as edges) whose every node sums to zero; two tables agreeing on
   every published cell differ by a *circulation* on the withheld cells. A withheld cell can
   take another value exactly when it lies on a directed cycle of withheld cells in the residual
   graph (a cell may go down only if it is at least 1, because counts are non-negative). So we
   look for such a cycle for every withheld cell, and where there is none, withhold the
   cheapest path of published cells that closes one (Dijkstra; small interior cells first,
   totals last), until every withheld cell is protected.

The tables of one export share their column totals (every request appears once in each
breakdown), so a total withheld in one table is withheld in all of them; ``suppress_tables``
iterates to that fixed point.
"""

from __future__ import annotations

import csv
import heapq
import io
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from tracker.reports import NOT_RECORDED, OUTCOMES, UNKNOWN_OFFICE, Report, Row, outcome
from tracker.rules import Policy

THRESHOLD = 5

Cell = tuple[int, int]
# Bipartite nodes: ("r", i) for row i, ("c", j) for column j.
Node = tuple[str, int]

# Withholding a total costs the reader far more than withholding an interior cell.
_MARGIN_COST = 10_000
_GRAND_TOTAL_COST = 1_000_000


@dataclass
class Table:
    """Counts with margins: ``counts[i][j]`` for ``i < R, j < C``; row ``R`` and column ``C``
    hold the totals. ``people`` has the same shape and holds the distinct people of each cell."""

    name: str
    row_labels: list[str]
    column_labels: list[str]
    counts: list[list[int]]
    people: list[list[int]]
    suppressed: set[Cell] = field(default_factory=set)

    @property
    def n_rows(self) -> int:
        return len(self.row_labels)

    @property
    def n_cols(self) -> int:
        return len(self.column_labels)

    def value(self, cell: Cell) -> int:
        return self.counts[cell[0]][cell[1]]

    def published(self, cell: Cell) -> int | None:
        return None if cell in self.suppressed else self.value(cell)


def with_margins(
    name: str,
    row_labels: Sequence[str],
    column_labels: Sequence[str],
    counts: Sequence[Sequence[int]],
    people_sets: Sequence[Sequence[frozenset[object]]] | None = None,
) -> Table:
    """Build a ``Table`` from interior counts (and the people behind each cell, when known)."""
    rows, cols = len(row_labels), len(column_labels)
    full = [[0] * (cols + 1) for _ in range(rows + 1)]
    for i in range(rows):
        for j in range(cols):
            full[i][j] = int(counts[i][j])
            full[i][cols] += full[i][j]
            full[rows][j] += full[i][j]
            full[rows][cols] += full[i][j]
    if people_sets is None:
        people = [row[:] for row in full]
    else:
        sets: list[list[set[object]]] = [[set() for _ in range(cols + 1)] for _ in range(rows + 1)]
        for i in range(rows):
            for j in range(cols):
                cell = people_sets[i][j]
                for target in (sets[i][j], sets[i][cols], sets[rows][j], sets[rows][cols]):
                    target.update(cell)
        people = [[len(s) for s in row] for row in sets]
    return Table(name, list(row_labels), list(column_labels), full, people)


def _sign(table: Table, cell: Cell) -> int:
    """+1 for interior cells and the grand total, -1 for the margins (see the module doc)."""
    on_total_row = cell[0] == table.n_rows
    on_total_col = cell[1] == table.n_cols
    return -1 if on_total_row != on_total_col else 1


def _arcs(table: Table, cell: Cell) -> list[tuple[Node, Node]]:
    """The residual arcs of a cell: forward (row → column) raises its signed value, backward
    lowers it; lowering a count below zero is impossible."""
    i, j = cell
    value = table.value(cell)
    sign = _sign(table, cell)
    arcs: list[tuple[Node, Node]] = []
    if sign > 0 or value >= 1:
        arcs.append((("r", i), ("c", j)))
    if sign < 0 or value >= 1:
        arcs.append((("c", j), ("r", i)))
    return arcs


def _all_cells(table: Table) -> Iterable[Cell]:
    for i in range(table.n_rows + 1):
        for j in range(table.n_cols + 1):
            yield (i, j)


def _cost(table: Table, cell: Cell) -> int:
    if cell in table.suppressed:
        return 0
    i, j = cell
    if i == table.n_rows and j == table.n_cols:
        return _GRAND_TOTAL_COST
    base = table.value(cell) + 1  # +1: fewer cells is better too
    if i == table.n_rows or j == table.n_cols:
        base += _MARGIN_COST
    return base


def _cheapest_path(
    table: Table, start: Node, goal: Node, exclude: Cell, only_suppressed: bool
) -> list[Cell] | None:
    """Cells on the cheapest residual path ``start`` ⇝ ``goal`` avoiding ``exclude``."""
    adjacency: dict[Node, list[tuple[Node, Cell]]] = {}
    for cell in _all_cells(table):
        if cell == exclude or (only_suppressed and cell not in table.suppressed):
            continue
        for a, b in _arcs(table, cell):
            adjacency.setdefault(a, []).append((b, cell))
    best: dict[Node, int] = {start: 0}
    back: dict[Node, tuple[Node, Cell]] = {}
    queue: list[tuple[int, Node]] = [(0, start)]
    while queue:
        dist, node = heapq.heappop(queue)
        if node == goal:
            path: list[Cell] = []
            while node != start:
                node, cell = back[node]
                path.append(cell)
            return path
        if dist > best.get(node, dist):
            continue
        for nxt, cell in adjacency.get(node, []):
            candidate = dist + _cost(table, cell)
            if candidate < best.get(nxt, candidate + 1):
                best[nxt] = candidate
                back[nxt] = (node, cell)
                heapq.heappush(queue, (candidate, nxt))
    return None


def _cycle_for(table: Table, cell: Cell, only_suppressed: bool) -> list[Cell] | None:
    """The other cells of the cheapest cycle that lets ``cell`` change, if there is one."""
    options: list[list[Cell]] = []
    for a, b in _arcs(table, cell):
        # Take the arc a → b, then come back b ⇝ a.
        path = _cheapest_path(table, b, a, cell, only_suppressed)
        if path is not None:
            options.append(path)
    if not options:
        return None
    return min(options, key=lambda p: sum(_cost(table, c) for c in p))


def is_protected(table: Table, cell: Cell) -> bool:
    """Whether the withheld ``cell`` can take two values consistent with everything published."""
    return _cycle_for(table, cell, only_suppressed=True) is not None


def suppress(table: Table, forced: Iterable[Cell] = (), threshold: int = THRESHOLD) -> Table:
    """Withhold small cells and enough others that none can be recovered (in place)."""
    table.suppressed |= set(forced)
    empty_columns = {j for j in range(table.n_cols + 1) if table.counts[table.n_rows][j] == 0}
    for cell in _all_cells(table):
        i, j = cell
        if j in empty_columns:
            continue
        if table.counts[i][j] < threshold or table.people[i][j] < threshold:
            table.suppressed.add(cell)
    while True:
        exposed = sorted(c for c in table.suppressed if not is_protected(table, c))
        if not exposed:
            return table
        cycle = _cycle_for(table, exposed[0], only_suppressed=False)
        if cycle is None:
            # No cycle at all (a degenerate table): withhold everything rather than publish
            # something recoverable.
            table.suppressed |= set(_all_cells(table))
            return table
        table.suppressed |= set(cycle)


def suppress_tables(tables: Sequence[Table], threshold: int = THRESHOLD) -> list[Table]:
    """Suppress every table, keeping the shared column totals withheld alike in all of them."""
    shared: set[int] = set()
    while True:
        for table in tables:
            table.suppressed = set()
            suppress(table, [(table.n_rows, j) for j in shared], threshold)
        now_shared = {j for table in tables for (i, j) in table.suppressed if i == table.n_rows}
        if now_shared <= shared:
            return list(tables)
        shared |= now_shared


SUPPRESSED_MARK = "*"


def csv_rows(
    tables: Sequence[Table], total_label: str = "All", total_column: str = "requests_filed"
) -> list[list[str]]:
    """Long-form rows ``[breakdown, group, total, outcome...]``; withheld cells are ``*``."""
    rows: list[list[str]] = []
    for table in tables:
        labels = [*table.row_labels, total_label]
        for i, label in enumerate(labels):
            total = table.published((i, table.n_cols))
            cells = [table.published((i, j)) for j in range(table.n_cols)]
            rows.append(
                [
                    table.name,
                    label,
                    SUPPRESSED_MARK if total is None else str(total),
                    *(SUPPRESSED_MARK if v is None else str(v) for v in cells),
                ]
            )
    return rows


# -- the public export of a report -------------------------------------------------------------

OTHER = "other"
CSV_HEADER = ["period_from", "period_to", "breakdown", "group", "requests_filed", *OUTCOMES]

BREAKDOWNS: dict[str, Callable[[Row], str]] = {
    "field_office": lambda r: r.office_code,
    "request_kind": lambda r: r.kind.value,
    "country_of_birth": lambda r: r.country,
    "race": lambda r: r.race,
    "ethnicity": lambda r: r.ethnicity,
}


def public_tables(report: Report, policy: Policy, threshold: int = THRESHOLD) -> list[Table]:
    """Requests filed in the period by outcome at ``as_of``, one suppressed table a breakdown.

    A group of fewer than ``threshold`` people is folded into ``other``: even a fully withheld
    row would tell that someone from, say, a small country is in the data.
    """
    filed = [
        r for r in report.rows if r.filed_at and report.period_from <= r.filed_at < report.period_to
    ]
    outcomes = [outcome(r, report.as_of, policy) for r in filed]
    tables: list[Table] = []
    for name, key in BREAKDOWNS.items():
        members: dict[str, set[object]] = defaultdict(set)
        for r in filed:
            members[key(r)].add(r.case_id)
        small = {g for g, people in members.items() if len(people) < threshold}
        group_of = {g: (OTHER if g in small else g) for g in members}
        groups = sorted(
            set(group_of.values()), key=lambda g: (g in (OTHER, NOT_RECORDED, UNKNOWN_OFFICE), g)
        )
        index = {g: i for i, g in enumerate(groups)}
        counts = [[0] * len(OUTCOMES) for _ in groups]
        people: list[list[set[object]]] = [[set() for _ in OUTCOMES] for _ in groups]
        for r, out in zip(filed, outcomes, strict=True):
            i, j = index[group_of[key(r)]], OUTCOMES.index(out)
            counts[i][j] += 1
            people[i][j].add(r.case_id)
        tables.append(
            with_margins(
                name,
                groups,
                list(OUTCOMES),
                counts,
                [[frozenset(s) for s in row] for row in people],
            )
        )
    return suppress_tables(tables, threshold)


def public_csv(report: Report, policy: Policy) -> str:
    """The public CSV: aggregate rows only, small cells and their complements withheld (``*``)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    period = [report.period_from.date().isoformat(), report.period_to.date().isoformat()]
    for row in csv_rows(public_tables(report, policy)):
        writer.writerow([*period, *row])
    return buffer.getvalue()
