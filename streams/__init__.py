"""The stream worker: Faust agents that validate events, enforce the policy and notify.

Start it with ``privtrail worker``; build it in code with
``privtrail.streams.app.build_app(WorkerSettings.from_env())``. Nothing is imported here,
so ``import privtrail.streams.settings`` does not pull in Faust. See docs/streams.md.
"""

__all__: list[str] = []
