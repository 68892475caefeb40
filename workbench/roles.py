"""The role prompts' opening lines: how the engine marks a classifier's or a judge's call.

The engine writes them (`engine/route_step.py`, `engine/gate.py`); the simulator recognises them to answer in the
role's format (`sim/roles.py`). Neither layer imports the other: both read this module, which imports nothing.
"""

CLASSIFIER_MARK = "You are a request classifier."
JUDGE_MARK = "You are a judge."
