"""What to evaluate: data-set rows as `Case` objects, with ``path:line`` errors."""

from deltajudge.cases.case import Case, Message
from deltajudge.cases.datasets import load_dataset

__all__ = ["Case", "Message", "load_dataset"]
