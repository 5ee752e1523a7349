"""Child processes of the test suite (docs2qa finetune/eval run as subprocesses) take the
bitsandbytes CPU branch the suite was asked for (see bnb_packed.py). tests/conftest.py puts this
folder on PYTHONPATH only when DOCS2QA_BNB_CPU_PACKED is set.

bitsandbytes is patched when something imports it, not here: most children never need it and
importing it costs seconds.
"""

import importlib.abc
import importlib.util
import sys

import bnb_packed

_TARGET = "bitsandbytes.nn.modules"


class _PatchWhenImported(importlib.abc.MetaPathFinder):
    def __init__(self, enabled: bool):
        self.enabled = enabled

    def find_spec(self, name, path=None, target=None):
        if name != _TARGET:
            return None
        sys.meta_path.remove(self)  # let the ordinary finders locate the real module
        spec = importlib.util.find_spec(name)
        exec_module = spec.loader.exec_module

        def exec_then_force(module):
            exec_module(module)
            bnb_packed.force_on_class(module.Linear4bit, self.enabled)

        spec.loader.exec_module = exec_then_force
        return spec


if bnb_packed.requested() is not None:
    sys.meta_path.insert(0, _PatchWhenImported(bnb_packed.requested()))
