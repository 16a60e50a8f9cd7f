"""One error handler for every `charter` command.

A refusal (`CharterError`) is printed as its reason code and sentence, an
invalid setting or value as the fields at fault, and the command exits
non-zero, without a traceback. Nothing the caller typed is repeated beyond what
the service's own message says (which never carries personal data), and no
local variables are ever printed (Typer's pretty tracebacks would show them:
tokens, identifiers).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import pydantic
import typer
from rich.console import Console
from typer.core import TyperGroup

from charter.domain.errors import CharterError
from charter.domain.reasons import Reason

REFUSED = 1  # the service refused: a reason code says why
UNUSABLE = 2  # the command line, a setting or a file cannot be used
PIPE_CLOSED = 1  # the reader went away: what rich's console exits with for its own output


def fail(reason: Reason, detail: str = "", *, code: int = REFUSED) -> NoReturn:
    sentence = reason.sentence
    message = f"{reason.value}: {sentence}"
    if detail and detail != sentence:
        message += f" ({detail})"
    typer.secho(message, err=True, fg=typer.colors.RED)
    raise typer.Exit(code)


def fields(error: pydantic.ValidationError) -> str:
    """Where a value is wrong and how, never the value."""
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['type']}" for e in error.errors()
    )


@contextmanager
def refusals(console: Console) -> Iterator[None]:
    """A refusal of the register is a message and exit status 1, not a traceback."""
    try:
        yield
    except CharterError as e:
        console.print(f"[red]{e.reason.value}[/red] {e.detail}")
        raise typer.Exit(1) from None


class CharterGroup(TyperGroup):
    """The root command group: every subcommand runs inside `invoke`."""

    # Any: Typer's Context is its own vendored click's in recent versions, click's before.
    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except CharterError as e:
            fail(e.reason, e.detail)
        except pydantic.ValidationError as e:
            fail(Reason.VALIDATION_FAILED, fields(e), code=UNUSABLE)
        except OverflowError:
            fail(Reason.VALIDATION_FAILED, "a number is out of range", code=UNUSABLE)
        except BrokenPipeError:
            # The reader went away (`charter … | head`): stop quietly, as Unix tools do; the
            # interpreter's own flush at exit must not write to the closed pipe either.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(PIPE_CLOSED) from None
        except OSError as e:
            fail(Reason.VALIDATION_FAILED, f"a file cannot be used: {e.strerror}", code=UNUSABLE)
