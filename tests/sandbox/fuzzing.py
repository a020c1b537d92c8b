"""What the emulators' malformed-input tests share: how many examples, and hostile JSON.

Imported by the test modules of this folder (pytest puts the folder on ``sys.path``).
``HUB_SANDBOX_FUZZ_EXAMPLES`` raises the number of examples per property for a longer hunt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("HUB_SANDBOX_FUZZ_EXAMPLES", "60"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

# Text every emulator must survive: numbers beyond any type, NaN, NUL, an unpaired surrogate, emoji.
NASTY_TEXT = [
    "1e999999",
    "-1E+400",
    "NaN",
    "Infinity",
    "9" * 40,
    "0." + "1" * 40,
    "\x00",
    "\ud800",
    "😀" * 10,
    "x" * 5000,
]


def scalars(extra_text: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    """A JSON scalar of any type: integers far out of range, floats, text, the nasty texts plus ``extra_text``."""
    return (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**40), max_value=10**40)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=30)
        | st.sampled_from([*NASTY_TEXT, *extra_text])
    )


def json_values(extra_text: Sequence[str] = ()) -> st.SearchStrategy[Any]:
    """Any JSON value: :func:`scalars` nested in lists and objects."""
    return st.recursive(
        scalars(extra_text),
        lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
        max_leaves=12,
    )


def dumps(payload: Any) -> bytes:
    """JSON as a client may send it: ensure_ascii keeps unpaired surrogates as \\ud800 escapes."""
    return json.dumps(payload).encode("ascii")


def module_sandbox(seed: int, orders: int) -> Iterator[dict[str, Any]]:
    """A frozen sandbox for one test module, or, to debug, the one whose ready line is in
    ``$HUB_SANDBOX_READY_LINE`` (started by hand, its stderr at hand)."""
    from sandbox.testing import running_sandbox

    ready = os.environ.get("HUB_SANDBOX_READY_LINE")
    if ready:
        yield json.loads(ready)
        return
    with running_sandbox(seed=seed, orders=orders, frozen=True) as info:
        yield info
