"""Running a Python child process that imports the tapegrad under test (the tests that need a
process of their own: signals, kills, memory, thread-count settings)."""
import os
import pathlib
import subprocess
import sys

import tapegrad


TESTS = str(pathlib.Path(__file__).resolve().parent)


def child_env(**extra) -> dict:
    """os.environ with this tapegrad and the tests folder (for helpers a child imports) first on
    PYTHONPATH, plus `extra` variables."""
    package_root = str(pathlib.Path(tapegrad.__file__).resolve().parent.parent)
    path = os.pathsep.join(filter(None, [package_root, TESTS, os.environ.get("PYTHONPATH")]))
    return dict(os.environ, PYTHONPATH=path, **extra)


def popen_python(script, *args, **kwargs) -> subprocess.Popen:
    """Starts `python -c script args...` with stdout as a text pipe, line-buffered."""
    env = child_env(**kwargs.pop("env", {}))
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                            text=True, bufsize=1, env=env, **kwargs)


def run_python(script, *args, timeout=300, **kwargs) -> subprocess.CompletedProcess:
    """Runs `python -c script args...` to completion; raises if it fails, with its stderr."""
    env = child_env(**kwargs.pop("env", {}))
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                          text=True, timeout=timeout, env=env, **kwargs)
    assert proc.returncode == 0, f"child failed ({proc.returncode}):\n{proc.stderr}"
    return proc
