"""The one `MetaData` every table of the schema is defined on.

Kept apart so that the area modules (`schema_rights`, `schema_ngsild`) and
`schema` itself can define their tables on it without importing each other in
a cycle. Import `metadata` from `charter.store.schema`, which defines or
imports every table: importing this module alone yields an empty schema.
"""

from __future__ import annotations

from sqlalchemy import MetaData

metadata = MetaData()
