"""Errors of the stream worker; all derive from :class:`privtrail.errors.PrivtrailError`."""

from __future__ import annotations

from privtrail.errors import PrivtrailError


class StreamsError(PrivtrailError):
    """The stream worker cannot start or run (bad settings, mismatched topics, ...)."""


class TopicLayoutError(StreamsError):
    """A topic exists with a partition count the topology cannot use.

    ``topic`` is its name, ``found`` and ``wanted`` the partition counts.
    """

    def __init__(self, topic: str, found: int, wanted: int) -> None:
        self.topic = topic
        self.found = found
        self.wanted = wanted
        super().__init__(
            f"topic {topic!r} has {found} partitions but the worker needs {wanted} "
            "(co-partitioned with the subject/actor tables); run the worker with "
            f"--partitions {found}, or recreate the topic"
        )
