"""The end-to-end benchmark (``privtrail bench``): the whole pipeline under load on the
local stack, next to bare baselines measured in the same run. See ``docs/benchmarks.md``."""

from privtrail.bench.workload import WorkItem, WorkloadConfig, all_items, shard_items

__all__ = ["WorkItem", "WorkloadConfig", "all_items", "shard_items"]
