"""A Jupyter kernel from the Python that runs safeguards, with no kernelspec to register.

Papermill normally finds a kernel by name among installed kernelspecs; on a
fresh machine there may be none, or a user-level ``python3`` pointing at another
interpreter. This kernel manager ignores the kernelspec search and starts
``sys.executable -m ipykernel_launcher``: the notebook runs with exactly the
packages of the environment that runs the command.
"""

from __future__ import annotations

import sys

from jupyter_client.kernelspec import KernelSpec
from jupyter_client.manager import AsyncKernelManager

KERNEL_NAME = "python3"


def current_python_spec() -> KernelSpec:
    return KernelSpec(
        # the kernel's own log goes to our stderr; warnings about its transport are noise there
        argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}", "--IPKernelApp.log_level=ERROR"],
        display_name=f"Python ({sys.executable})",
        language="python",
        metadata={"debugger": False},
    )


class CurrentPythonKernelManager(AsyncKernelManager):
    """Starts the kernel with this process's interpreter, whatever kernelspecs are (not) installed."""

    @property
    def kernel_spec(self) -> KernelSpec:
        return current_python_spec()
