"""The rule engine: pure Python, no I/O; one event gets one verdict everywhere."""

from privtrail.engine.actor import ActorEngine, actor_key, subject_key
from privtrail.engine.catalog import RULES
from privtrail.engine.engine import Engine, EngineStats
from privtrail.engine.state import ActorState, SubjectState
from privtrail.engine.stateless import evaluate_stateless
from privtrail.engine.subject import SubjectEngine

__all__ = [
    "RULES",
    "ActorEngine",
    "ActorState",
    "Engine",
    "EngineStats",
    "SubjectEngine",
    "SubjectState",
    "actor_key",
    "evaluate_stateless",
    "subject_key",
]
