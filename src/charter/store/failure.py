"""Storage that cannot take a write now: a full disk, a read-only or lost database.

These are not bugs and not the caller's fault: nothing was committed, and the
same request succeeds once an operator (or time) frees the disk or brings the
database back. The API answers them 503 with Retry-After; writers retry.
"""

from __future__ import annotations

import errno

from sqlalchemy.exc import OperationalError

_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO}


def storage_unavailable(exc: BaseException) -> bool:
    """Is this the store (or the disk under it) refusing a write for now?"""
    if isinstance(exc, OperationalError):
        return True  # SQLITE_FULL / database is locked / PostgreSQL away or out of space
    return isinstance(exc, OSError) and exc.errno in _NO_ROOM
