"""The register as the preemption service sees it: may this vehicle ask for priority
now? Answers kept in memory and checked against the register's version."""

from __future__ import annotations

from typing import Any

from charter.domain.reasons import Reason


class RegisterCheck:
    """May this vehicle ask for priority now? The register's answer (a registered device
    of the live project, neither suspended nor revoked), from in-memory copies checked
    against the register's version in the store: `refresh` (once per batch, one read)
    empties them when any process changed a device or a project, so a suspension made
    anywhere counts from the next batch, and no message reads the register itself."""

    MAX_KEPT = 10_000  # answers kept; beyond, they are forgotten and read again

    def __init__(self, store: Any, project_id: str) -> None:
        self.store, self.project_id = store, project_id
        self.version: int | None = None
        self._answers: dict[str, Reason | None] = {}
        self._project_live: bool | None = None

    def refresh(self, version: int | None = None) -> None:
        """Check the copies against the register's `version` (read now if not given)."""
        if version is None:
            version = self.store.read_register_version()
        if version != self.version:
            # The version is read first, so what loads after is at least as new.
            self._answers.clear()
            self._project_live = None
            self.version = version

    def __call__(self, device_id: str) -> Reason | None:
        if self.version is None:
            self.refresh()
        if device_id in self._answers:
            return self._answers[device_id]
        answer = self._load(device_id)
        if len(self._answers) >= self.MAX_KEPT:
            self._answers.clear()
        self._answers[device_id] = answer
        return answer

    def _load(self, device_id: str) -> Reason | None:
        from charter.domain.model import DeviceStatus, ProjectStatus

        device = self.store.get_device(device_id)
        if device is None or device.project_id != self.project_id:
            return Reason.NOT_REGISTERED
        if device.status is DeviceStatus.SUSPENDED:
            return Reason.DEVICE_SUSPENDED
        if device.status is DeviceStatus.REVOKED:
            return Reason.DEVICE_REVOKED
        if self._project_live is None:
            project = self.store.get_project(self.project_id)
            self._project_live = project is not None and project.status is ProjectStatus.LIVE
        return None if self._project_live else Reason.PROJECT_NOT_LIVE
