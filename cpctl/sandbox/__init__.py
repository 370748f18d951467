"""The sandbox: an emulated AWS (moto, in-process) running the real template, ASL and handlers."""
