"""Output helpers: rich tables for people, plain JSON for scripts, one-line errors.

Consoles are made per call, so they write to whatever ``sys.stdout`` is now
(Typer's test runner swaps it). In a pipe Rich drops colours and progress;
there the width is fixed and generous, so ids and numbers are never folded.
"""

from __future__ import annotations

import json
import math
import os
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

PIPE_WIDTH = 200
MISSING = "-"


def console(stderr: bool = False) -> Console:
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or os.environ.get("COLUMNS") else PIPE_WIDTH
    return Console(stderr=stderr, width=width, highlight=False)


def text(value: Any, style: str = "") -> Text:
    """User-provided text as a cell: never parsed as Rich markup."""
    from rich.text import Text

    return Text(MISSING if value is None else str(value), style=style)


def print_json(data: Any) -> None:
    """JSON on stdout and nothing else; NaN and infinities become null (JSON has neither)."""
    sys.stdout.write(json.dumps(_finite(data), indent=2, sort_keys=False) + "\n")


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(v) for v in data]
    return data


def print_error(message: str) -> None:
    """``error: <message>`` in red on stderr; extra lines (a caret under a filter) follow as-is."""
    from rich.text import Text

    line = Text("error: ", style="bold red") + Text(message)
    console(stderr=True).print(line, soft_wrap=True)


def fmt_number(value: float | None, digits: int = 4) -> str:
    """Few digits for tables; ``--json`` carries the full value."""
    if value is None:
        return MISSING
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def fmt_time(ms: int | None) -> str:
    if ms is None:
        return MISSING
    return datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone().strftime("%Y-%m-%d %H:%M:%S")


def fmt_duration(ms: int | None) -> str:
    if ms is None:
        return MISSING
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def fmt_size(size: int | None) -> str:
    if size is None:
        return MISSING
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"


STATUS_STYLES = {"RUNNING": "cyan", "FINISHED": "green", "FAILED": "red", "KILLED": "yellow"}
