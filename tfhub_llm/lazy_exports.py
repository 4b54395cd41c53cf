"""Public names loaded on first use (PEP 562), so that importing a package does not load TensorFlow.

``tfhub-llm --help`` and the package's leaf modules (errors, training options, the CLI's parsers)
must not pay the seconds TensorFlow takes to import; a package ``__init__`` lists where each public
name lives and imports that module when the name is first read.
"""

import importlib
import sys


def lazy_exports(package_name, modules):
    """``(__getattr__, __dir__)`` for the package ``package_name`` whose public names live in ``modules``.

    ``modules`` maps each module (``"tfhub_llm.layers"``) to the names it provides.
    """
    where = {name: module for module, names in modules.items() for name in names}

    def __getattr__(name):
        if name not in where:
            raise AttributeError(f"module {package_name!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(where[name]), name)
        setattr(sys.modules[package_name], name, value)  # read once: later reads skip __getattr__
        return value

    def __dir__():
        return sorted({*where, *vars(sys.modules[package_name])})

    return __getattr__, __dir__


def load_all(package):
    """Imports every public name of ``package`` (e.g. so that Keras finds every serializable class)."""
    for name in package.__all__:
        getattr(package, name)
