"""A case module that aborts its process on import, standing in for an LLVM assertion in the compiler.

The runner must report such a case as a failure (not hang, not raise).
"""

import os

os.abort()
