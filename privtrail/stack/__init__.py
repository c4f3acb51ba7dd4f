"""The local stack: real Apache Kafka and ClickHouse (chDB) as local processes.

from privtrail.stack import Stack, StackPorts
stack = Stack.from_env()
stack.up()
"""

from privtrail.stack.manager import Stack, StackStatus
from privtrail.stack.ports import StackPorts
from privtrail.stack.settings import ClickHouseUser, ClickHouseUsers

__all__ = ["ClickHouseUser", "ClickHouseUsers", "Stack", "StackPorts", "StackStatus"]
