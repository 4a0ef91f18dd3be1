"""import striate tunes glibc's malloc to keep freed arrays for reuse; STRIATE_MALLOC=system opts
out. Checked in fresh processes, since the tuning happens once, at import."""
import subprocess
import sys

import pytest

_PROBE = ("import striate, striate.kernels.memory as m; "
          "print(m._applied, m.keep_freed_memory())")


def _probe(env_value=None):
    import os
    env = dict(os.environ)
    env.pop("STRIATE_MALLOC", None)
    if env_value is not None:
        env["STRIATE_MALLOC"] = env_value
    out = subprocess.run([sys.executable, "-c", _PROBE], env=env, capture_output=True,
                         text=True, check=True)
    return out.stdout.split()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt")
def test_import_tunes_malloc_and_system_opts_out():
    assert _probe() == ["True", "True"]
    assert _probe("system") == ["False", "False"]
