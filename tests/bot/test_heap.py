"""A server's long-lived objects leave the garbage collector's view once its SDKs are loaded."""

from __future__ import annotations

import gc
import sys

from bot.serve import freeze_when_loaded
from tests.conftest import MakeCore


async def test_what_exists_once_the_sdks_are_loaded_is_frozen(make_core: MakeCore) -> None:
    core = await make_core()
    core.warm()
    gc.disable()  # as `consensus serve` starts
    try:
        await freeze_when_loaded(core)
        assert gc.isenabled()  # on again, now that it only sees what questions make
        assert {"openai", "anthropic"} <= set(sys.modules)  # loaded first
        # the SDKs' classes and the process's modules are out of view: a full collection walks the rest
        assert gc.get_freeze_count() > 100_000
        assert len(gc.get_objects()) < gc.get_freeze_count() / 20
    finally:
        gc.unfreeze()
        gc.enable()
