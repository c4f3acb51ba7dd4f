"""The privacy policy as code: typed models, the YAML loader and the bundled COLABOX policy."""

from privtrail.policy.duration import Duration
from privtrail.policy.loader import default_policy, load_policy, parse_policy
from privtrail.policy.models import Policy, PolicyIndex

__all__ = ["Duration", "Policy", "PolicyIndex", "default_policy", "load_policy", "parse_policy"]
