"""A case module that never finishes importing, standing in for a compile that hangs.

The runner must report such a case as a timeout and go on with the next case.
"""

import time

while True:
    time.sleep(60)
