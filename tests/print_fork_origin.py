"""`python -m tests.print_fork_origin`: this process's parent pid and whether TensorFlow was already imported
(a run forked from the ydata environment's zygote has it; a fresh interpreter has not)."""

import json
import os
import sys

print(json.dumps({"ppid": os.getppid(), "tensorflow": "tensorflow" in sys.modules}))
