"""`python -m tests.print_torch_threads`: prints torch's intra-op thread count (the launcher's thread-cap test)."""

import torch

print(torch.get_num_threads())
