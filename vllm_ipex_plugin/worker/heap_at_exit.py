"""Workers leave their heap frozen for the interpreter's exit.

vLLM's GPU and CPU workers freeze the garbage collector's heap after start-up and unfreeze it
in ``shutdown()``. The interpreter's final collection then walks every object the model
loaded, which takes seconds on a host CPU: long enough that vLLM's process manager, which
gives the engine core (and through it the workers) 5 s after SIGTERM, force-kills them and
the server never shuts down cleanly. Freezing again once shutdown has released what it
releases skips that walk; memory and device handles go back to the system with the process,
and reference-counted cleanup still runs during finalization.
"""

from __future__ import annotations

import gc


class FrozenHeapAtExit:
    """Mixin for the plugin's workers (before vLLM's worker class in the bases)."""

    def shutdown(self) -> None:
        super().shutdown()
        gc.freeze()
