"""One stack of real processes for the reliability suite, on private servers it may stop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import services
from tests.support.private import missing_binaries
from tests.support.stack import Stack


@pytest.fixture(scope="package")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    missing = missing_binaries()
    if missing:
        services.unavailable("a private PostgreSQL and Redis", RuntimeError(missing))
    built = Stack(tmp_path_factory.mktemp("reliability"))
    try:
        built.start()
        yield built
    finally:
        built.close()


@pytest.fixture
def fresh(stack: Stack) -> Stack:
    stack.fresh()
    return stack
