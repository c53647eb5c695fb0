"""Outside Pyodide there is no IndexedDB: the store says so when it is created."""

from __future__ import annotations

from ..errors import StoreError

__all__ = ["IndexedDBStore"]


class IndexedDBStore:
    """Stands in for the IndexedDB store on CPython, where no browser storage exists.

    Raises:
        StoreError: always; use :class:`~blazen_py.MemoryStore` or a store of your own.
    """

    def __init__(self, name: str = "blazen_py") -> None:
        raise StoreError(
            f"IndexedDBStore({name!r}) needs a browser: IndexedDB exists only in Pyodide in a page; "
            "on CPython use MemoryStore or your own SnapshotStore"
        )
