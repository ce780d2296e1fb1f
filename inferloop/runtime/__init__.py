"""The process runtime: embedded platform, Prefect server, zygote, warm launcher, wakeable worker, process tree
and shutdown."""
