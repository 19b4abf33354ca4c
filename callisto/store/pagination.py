"""Cursor pagination over id-ordered tables, in the Assistants API's list shape.

Ids sort in creation order (``callisto.ids``), so a cursor is just an id: ``after=X`` in
descending order means ids below X. ``before`` pages backwards: it queries in the opposite
direction and reverses, so the page still comes in the requested order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

Row = TypeVar("Row")
Order = Literal["asc", "desc"]


async def page(
    session: AsyncSession,
    query: Select[Row],
    id_column: InstrumentedAttribute[str],
    *,
    limit: int,
    order: Order,
    after: str | None,
    before: str | None,
) -> tuple[Sequence[Row], bool]:
    """Return one page of ``query`` and whether more items follow in the direction read.

    Args:
        session: The database session.
        query: A select of one entity, already filtered.
        id_column: The entity's id column.
        limit: Items per page.
        order: ``asc`` or ``desc`` by id (= by creation).
        after: Return items that come after this id in ``order``.
        before: Return items that come before this id in ``order``.
    """
    ascending = order == "asc"
    if after is not None:
        query = query.where(id_column > after if ascending else id_column < after)
    if before is not None:
        query = query.where(id_column < before if ascending else id_column > before)
    # Paging backwards reads in the opposite direction, nearest to the cursor first.
    read_ascending = ascending if before is None else not ascending
    query = query.order_by(id_column.asc() if read_ascending else id_column.desc())
    rows = list((await session.scalars(query.limit(limit + 1))).all())
    has_more = len(rows) > limit
    rows = rows[:limit]
    if read_ascending != ascending:
        rows.reverse()
    return rows, has_more


def list_body(items: Sequence[Row], has_more: bool, to_wire: Callable[[Row], Any]) -> Any:
    """Return the list object ``{object, data, first_id, last_id, has_more}``."""
    data = [to_wire(item) for item in items]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }
