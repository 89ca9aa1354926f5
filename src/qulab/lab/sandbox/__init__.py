"""The sandbox learner answers run in: a policy on the code, a worker process with limits, a
read-only transaction, and a check on every statement. See docs/lab-sandbox.md for why."""

from qulab.lab.errors import AnswerFailed, Refused
from qulab.lab.sandbox.client import SandboxResult, run_in_sandbox
from qulab.lab.sandbox.policy import check_source
from qulab.lab.sandbox.runner import AnswerRun, load_entry, run_entry

__all__ = [
    "AnswerFailed",
    "AnswerRun",
    "Refused",
    "SandboxResult",
    "check_source",
    "load_entry",
    "run_entry",
    "run_in_sandbox",
]
