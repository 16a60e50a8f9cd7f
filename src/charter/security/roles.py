"""Least privilege, as data: which roles may do what.

No role may both change policy and read personal data: whoever writes the
rules cannot quietly use them to look at people. A test holds this.
"""

from __future__ import annotations

from charter.auth import Role

# Change the trust policy and other city-wide rules.
CHANGE_POLICY: tuple[Role, ...] = (Role.COUNCIL,)
# Read records that may be personal data (readings, quarantine), each read recorded.
READ_PERSONAL: tuple[Role, ...] = (Role.OPERATOR, Role.AUDITOR, Role.CONSUMER)
# Enrol devices, rotate and revoke their keys, record firmware.
MANAGE_DEVICES: tuple[Role, ...] = (Role.OPERATOR,)
# See pending two-person actions.
SEE_APPROVALS: tuple[Role, ...] = (Role.OPERATOR, Role.COUNCIL, Role.AUDITOR)
